import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';
import { isAlive } from '../../../lab/process.ts';
import { BIN, runCli } from '../../helpers/cli.ts';
import { tempLabDir } from '../../helpers/labs.ts';

const dirs: string[] = [];
function newDir(): string {
  const d = tempLabDir('cli');
  dirs.push(d);
  return d;
}

afterAll(async () => {
  for (const d of dirs) await runCli(['lab', 'down', '--dir', d, '--clean']).catch(() => {});
});

describe('ea-chaos lab up|status|down', () => {
  it('up prints the documented JSON, up again says already up, down stops every process', async () => {
    const dir = newDir();
    const up = await runCli(['lab', 'up', '--dir', dir, '--json']);
    expect(up.code, up.stderr).toBe(0);
    const info = JSON.parse(up.stdout);
    expect(info).toMatchObject({
      redis: { master: { host: '127.0.0.1', port: expect.any(Number) }, replicas: [{ host: '127.0.0.1', port: expect.any(Number) }] },
      sentinelMasterName: 'ea-master',
      clickhouse: { url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) },
    });
    expect(info.sentinels).toHaveLength(3);
    // The embedded fault proxy and the simulators run as lab services too.
    expect(info.proxy.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.broker).toMatchObject({ host: '127.0.0.1', port: expect.any(Number), admin: expect.stringMatching(/^http:/) });
    expect(info.feed).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    const version = await (await fetch(`${info.proxy.api}/version`)).json();
    expect(version).toHaveProperty('version');
    const health = await fetch(`${info.broker.admin}/health`);
    expect(health.status).toBe(200);
    const pids = Object.values(info.pids) as number[];
    expect(pids).toHaveLength(8);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);

    const again = await runCli(['lab', 'up', '--dir', dir]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already up/);

    const status = await runCli(['lab', 'status', '--dir', dir, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).redis.master).toEqual(info.redis.master);

    const down = await runCli(['lab', 'down', '--dir', dir]);
    expect(down.code).toBe(0);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} still alive after lab down`).toBe(false);
    // Data is kept without --clean.
    expect(existsSync(join(dir, 'redis-master', 'redis.conf'))).toBe(true);

    const st = await runCli(['lab', 'status', '--dir', dir, '--json']);
    expect(st.code).not.toBe(0);
    expect(JSON.parse(st.stdout)).toEqual({ up: false, dir });
  });

  it('a stale pidfile and lab.json (dead pids) do not block the next up', async () => {
    const dir = newDir();
    mkdirSync(join(dir, 'pids'), { recursive: true });
    // A pid that is certainly not ours: pid 1 exists but its cmdline lacks our marker.
    writeFileSync(join(dir, 'pids', 'redis-master.pid'), JSON.stringify({ service: 'redis-master', pid: 1, marker: join(dir, 'redis-master', 'redis.conf') }));
    writeFileSync(join(dir, 'pids', 'clickhouse.pid'), '{"torn'); // half-written by a killed up
    writeFileSync(join(dir, 'lab.json'), JSON.stringify({ info: { pids: { 'redis-master': 999999 } }, services: { 'redis-master': { marker: 'x' } } }));
    const up = await runCli(['lab', 'up', '--dir', dir, '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(isAlive(1)).toBe(true);
    const down = await runCli(['lab', 'down', '--dir', dir, '--clean']);
    expect(down.code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('an up killed half-way leaves nothing that blocks the next up, and its processes are reaped', async () => {
    const dir = newDir();
    const child = spawn(process.execPath, [BIN, 'lab', 'up', '--dir', dir], { stdio: 'ignore' });
    // Kill it as soon as the first services have been spawned, before lab.json exists.
    await waitFor(() => (existsSync(join(dir, 'pids')) && readdirSync(join(dir, 'pids')).length >= 2) || undefined, {
      what: 'first pidfiles',
      timeoutMs: 30_000,
      intervalMs: 2,
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const orphans = readdirSync(join(dir, 'pids')).map((f) => {
      try {
        return JSON.parse(readFileSync(join(dir, 'pids', f), 'utf8')).pid as number;
      } catch {
        return -1;
      }
    });
    const up = await runCli(['lab', 'up', '--dir', dir, '--json']);
    expect(up.code, up.stderr).toBe(0);
    const fresh = Object.values(JSON.parse(up.stdout).pids) as number[];
    for (const pid of orphans.filter((p) => p > 0 && !fresh.includes(p))) expect(isAlive(pid), `orphan ${pid}`).toBe(false);
    await runCli(['lab', 'down', '--dir', dir, '--clean']);
    for (const pid of fresh) expect(isAlive(pid)).toBe(false);
  });
});

describe('CLI bad input', () => {
  it('config print shows the seed defaults and applies --time-scale', async () => {
    const r = await runCli(['config', 'print', '--time-scale', '0.1']);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.trade.backoffMs).toEqual([100, 200, 400, 800, 1600]);
    expect(c.goals.tickStreamMs).toBe(100);
    expect(c.timeScale).toBe(0.1);
  });

  it('an invalid config file exits 2 naming the field, the value and the expectation', async () => {
    const dir = newDir();
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'trade:\n  maxAttempts: "five"\nredis:\n  appendfsync: sometimes\n');
    const r = await runCli(['config', 'print', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('trade.maxAttempts: got "five"');
    expect(r.stderr).toMatch(/redis\.appendfsync: got "sometimes"; expected .*"everysec"/);
  });

  it('unknown flags and bad flag values exit non-zero naming the flag', async () => {
    const a = await runCli(['lab', 'up', '--bogus']);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/unknown option '--bogus'/);
    const b = await runCli(['config', 'print', '--time-scale', 'fast']);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/time-scale must be a number, got "fast"/);
  });

  it('every subcommand has --help', async () => {
    for (const args of [['--help'], ['lab', '--help'], ['lab', 'up', '--help'], ['lab', 'status', '--help'], ['lab', 'down', '--help'], ['config', 'print', '--help']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: ea-chaos/);
    }
  });
});
