import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHistories } from '../../../harness/history/io.ts';
import { writeRunReport, readRunReport, type RunReport } from '../../../reports/index.ts';
import { sampleHistories, sampleReport } from '../../unit/reports/sample.ts';

const BIN = join(import.meta.dirname, '../../../bin/ea-chaos.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ea-chaos report / gate on a run dir written by the report writer', () => {
  let root: string;
  let failing: string;
  let passing: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ea-chaos-reports-'));
    failing = join(root, 'failing');
    writeHistories(failing, sampleHistories());
    writeRunReport(failing, sampleReport());
    // The same run without the failing scenario and with the tick goal met.
    const full = sampleReport();
    const ok: RunReport = {
      ...full,
      status: 'pass',
      scenarios: full.scenarios.filter((s) => s.status === 'pass'),
      components: full.components.map((c) => (c.id === 'trade' ? { ...c, samples: 0, sampleMs: [], p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null, pass: null } : c)),
    };
    passing = join(root, 'passing');
    writeRunReport(passing, ok);
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('report re-renders html and junit, prints the summary to stderr and JSON to stdout', () => {
    rmSync(join(failing, 'report.html'));
    rmSync(join(failing, 'junit.xml'));
    const r = cli('report', failing);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ runId: '20261124-183000-s42', status: 'fail' });
    expect(existsSync(out.files.html)).toBe(true);
    expect(readFileSync(out.files.junit, 'utf8')).toContain('<testsuites');
    expect(r.stderr).toMatch(/Tick Stream\s+100 ms\s+9/);
    expect(r.stderr).toContain(`report: ${out.files.html}`);
  });

  it('report --rebuild recomputes from the histories to the same verdicts', () => {
    const before = readRunReport(failing);
    const r = cli('report', failing, '--rebuild');
    expect(r.code).toBe(0);
    const after = readRunReport(failing);
    expect(after.scenarios.map((s) => [s.name, s.status, s.invariants.map((i) => i.status)])).toEqual(before.scenarios.map((s) => [s.name, s.status, s.invariants.map((i) => i.status)]));
    expect(after.components).toEqual(before.components);
  });

  it('gate exits 1 naming every failed goal and invariant', () => {
    const r = cli('gate', failing);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(false);
    expect(out.failures.join('\n')).toMatch(/Tick Stream: p99 120 ms > goal 100 ms/);
    expect(r.stderr).toMatch(/gate: FAIL/);
  });

  it('gate exits 1 on the tick goal alone, 0 once a goals file relaxes it', () => {
    expect(cli('gate', passing).code).toBe(1);
    const goals = join(root, 'goals.yaml');
    writeFileSync(goals, 'goals:\n  tickStreamMs: 150\n');
    const r = cli('gate', passing, '--goals', goals);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, failures: [] });
  });

  it('bad input exits 2 with a precise message', () => {
    const goals = join(root, 'bad-goals.yaml');
    writeFileSync(goals, 'goals:\n  tik: 150\n');
    const g = cli('gate', passing, '--goals', goals);
    expect(g.code).toBe(2);
    expect(g.stderr).toContain('goals.tik');
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const e = cli('report', empty);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/no report in .*empty/);
    expect(cli('gate', join(root, 'nope')).code).toBe(2);
    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'report.json'), JSON.stringify({ schema: 'ea-chaos/report@1', runId: 'x' }));
    const b = cli('gate', broken);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/invalid report .*report\.json/);
    expect(b.stderr).toMatch(/components/);
    const flag = cli('gate', passing, '--bogus');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--bogus');
  });
});
