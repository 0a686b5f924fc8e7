import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeRunReport } from '../../../reports/index.ts';
import { sampleReport } from '../../unit/reports/sample.ts';

/** A real browser, when the machine has one (Debian: apt-get install -y chromium). */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

const dir = mkdtempSync(join(tmpdir(), 'ea-chaos-html-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function chromium(...args: string[]) {
  const r = spawnSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${join(dir, 'profile')}`, ...args], {
    encoding: 'buffer',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout.toString('utf8') };
}

describe.skipIf(!CHROMIUM)('report.html in headless Chromium', () => {
  const report = sampleReport();
  const files = writeRunReport(join(dir, 'run'), report);

  it('parses to a DOM with every chart and timeline', () => {
    const r = chromium('--dump-dom', `file://${files.html}`);
    expect(r.code).toBe(0);
    expect((r.stdout.match(/<svg /g) ?? []).length).toBe(7 + report.scenarios.length);
    expect(r.stdout).toContain('ea-chaos recovery report');
    expect(r.stdout).not.toMatch(/<script/i);
  });

  it('renders to a PNG screenshot', () => {
    const png = join(dir, 'report.png');
    const r = chromium('--window-size=1000,2400', `--screenshot=${png}`, `file://${files.html}`);
    expect(r.code).toBe(0);
    const buf = readFileSync(png);
    expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(buf.readUInt32BE(16)).toBe(1000);
    expect(buf.readUInt32BE(20)).toBe(2400);
    expect(buf.length).toBeGreaterThan(50_000);
  });
});
