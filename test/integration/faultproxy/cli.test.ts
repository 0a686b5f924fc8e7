import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../lab/ports.ts';
import { http } from './helpers.ts';

const BIN = join(import.meta.dirname, '../../../bin/ea-chaos.js');
const dir = mkdtempSync(join(tmpdir(), 'ea-chaos-proxy-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing`)));
  });
}

describe('ea-chaos proxy', () => {
  it('prints {"api":...} when ready, serves the populated proxies, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const file = join(dir, 'proxies.json');
    writeFileSync(file, JSON.stringify([{ name: 'redis', listen: `127.0.0.1:${port}`, upstream: '127.0.0.1:6379' }]));
    const p = run(['proxy', '--port', '0', '--seed', '5', '--config', file]);
    const line = JSON.parse(await firstLine(p.child)) as { api: string };
    expect(line.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const all = (await http(line.api, 'GET', '/proxies')).json();
    expect(all.redis).toMatchObject({ listen: `127.0.0.1:${port}`, enabled: true });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('exits 2 naming the flag or the field on bad input', async () => {
    const badFlag = run(['proxy', '--port', 'abc']);
    expect(await badFlag.exited).toBe(2);
    expect(badFlag.stderr()).toContain('port');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify([{ name: 'a', upstream: 'h:1' }, { name: 'b' }]));
    const badFile = run(['proxy', '--port', '0', '--config', file]);
    expect(await badFile.exited).toBe(2);
    expect(badFile.stderr()).toContain('[1].upstream');
  });
});
