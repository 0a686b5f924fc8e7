import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ea-sup-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  const p = spawn(process.execPath, ['bin/ea-chaos.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  createInterface({ input: p.stdout! }).on('line', (l) => lines.push(l));
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  return { p, lines, exited, stderr: () => stderr };
}

describe('ea-chaos supervise / service install (CLI)', () => {
  it('supervises 2 instances of a compiled entry, serves /health, stops on SIGTERM', async () => {
    const cfg = join(dir, 'ea.yaml');
    writeFileSync(cfg, 'timeScale: 0.1\n');
    const r = run(['supervise', '--config', cfg, '--instances', '2', '--entry', 'test/fixtures/ready-child.ts']);
    try {
      const first = await waitFor(() => r.lines[0], { what: 'supervise started line', timeoutMs: 30_000 });
      const out = JSON.parse(first) as { health: string; entry: string; instances: { id: string; port: number }[] };
      expect(out.entry).toMatch(/dist\/test\/fixtures\/ready-child\.js$/);
      expect(out.instances.map((i) => i.id)).toEqual(['ea-0', 'ea-1']);
      const h = await waitFor(
        async () => {
          const res = await fetch(out.health);
          return res.status === 200 ? ((await res.json()) as { instances: { state: string; restarts: number }[] }) : undefined;
        },
        { what: 'all ready', timeoutMs: 10_000 },
      );
      expect(h.instances.map((i) => [i.state, i.restarts])).toEqual([
        ['ready', 0],
        ['ready', 0],
      ]);
    } finally {
      r.p.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
  });

  it('exits 2 naming the flag on a bad --instances, and writes both service files', async () => {
    const bad = run(['supervise', '--config', 'x.yaml', '--instances', 'zero']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('instances');
    for (const platform of ['windows', 'systemd']) {
      const r = run(['service', 'install', '--platform', platform, '--name', 'ea-test', '--out', dir]);
      expect(await r.exited).toBe(0);
      const { file } = JSON.parse(r.lines[0]!) as { file: string };
      const text = readFileSync(file, 'utf8');
      if (platform === 'windows') expect(text).toContain('sc.exe failure ea-test reset= 30 actions= restart/1000/restart/1000/restart/1000');
      else expect(text).toContain('StartLimitBurst=3');
    }
  });
});
