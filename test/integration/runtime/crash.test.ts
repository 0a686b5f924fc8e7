import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, startFeed, type BrokerHandle, type FeedHandle } from '../../../simulator/index.ts';
import { waitFor } from '../../../core/wait.ts';
import { freePort } from '../../../lab/ports.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * The runtime as a real process: kill -9 during a burst, a corrupted DuckDB
 * WAL, a corrupted config, a DuckDB file locked by another runtime.
 */
const ROOT = new URL('../../../', import.meta.url).pathname;
let feed: FeedHandle;
let broker: BrokerHandle;
const tmp = tempDir('crash');
const procs = new Set<ChildProcess>();

interface Proc {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

function spawnRuntime(configFile: string, extraArgs: string[] = []): { child: ChildProcess; started: Promise<Proc>; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'runtime/main.ts'), '--config', configFile, ...extraArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EA_CHAOS_LOG_LEVEL: 'warn' },
  });
  procs.add(child);
  let err = '';
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => {
    procs.delete(child);
    r(code);
  }));
  const started = new Promise<Proc>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, url: (JSON.parse(line) as { control: string }).control, stderr: () => err });
    });
    void exited.then((code) => reject(new Error(`runtime exited ${code} before starting: ${err.slice(-2000)}`)));
  });
  started.catch(() => {}); // callers that expect an early exit await `exited` instead
  return { child, started, exited, stderr: () => err };
}

async function startReady(configFile: string): Promise<Proc> {
  const p = await spawnRuntime(configFile).started;
  await waitFor(async () => ((await fetch(`${p.url}/ready`)).status === 200 ? true : undefined), { what: 'runtime /ready', timeoutMs: 20_000, intervalMs: 20 });
  return p;
}

async function kill9(p: Proc): Promise<void> {
  const gone = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await gone;
}

async function state(url: string): Promise<{ orders: { clientId: string; state: string }[] }> {
  return (await fetch(`${url}/state`)).json() as never;
}

async function events(url: string): Promise<{ type: string; data?: Record<string, unknown> }[]> {
  const text = await (await fetch(`${url}/events?follow=0`)).text();
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Fire `n` orders at once; returns the client ids of the ones the runtime acknowledged. */
async function burst(url: string, n: number, onAck?: (count: number) => void): Promise<string[]> {
  const acked: string[] = [];
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      fetch(`${url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ symbol: 'EURUSD', side: i % 2 ? 'sell' : 'buy', volume: 0.01, deviation: 100 }) })
        .then(async (r) => {
          if (r.status === 200) {
            acked.push(((await r.json()) as { order: { clientId: string } }).order.clientId);
            onAck?.(acked.length);
          }
        })
        .catch(() => {}),
    ),
  );
  return acked;
}

function checkLedger(tag: string, known: Set<string>, acked: readonly string[]): void {
  const per = new Map<string, number>();
  for (const d of broker.ledger.deals.filter((d) => d.magic === 4242 && d.comment.startsWith(`${tag}.`))) per.set(d.comment, (per.get(d.comment) ?? 0) + 1);
  for (const [c, n] of per) expect(n, `deals for ${c}`).toBe(1);
  for (const c of per.keys()) expect(known.has(c), `ledger order ${c} known to the runtime`).toBe(true);
  for (const id of acked) expect(known.has(id), `acknowledged order ${id} not lost`).toBe(true);
}

function writeConfig(name: string, extra: Record<string, unknown> = {}, instanceId = 'crash1'): string {
  const file = join(tmp.dir, `${name}.json`);
  const cfg = testConfig({ dir: join(tmp.dir, `data-${name}`), broker: { host: broker.host, port: broker.port }, instanceId, extra }) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...cfg, duckdb: { lockRetryMs: 100, lockMaxAttempts: 3 } }, null, 2));
  return file;
}

beforeAll(async () => {
  feed = await startFeed({ seed: 9, port: 0, ticksPerSecond: 50 });
  broker = await startBroker({ seed: 9, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await broker?.stop();
  await feed?.stop();
  tmp.cleanup();
});

describe('runtime process crashes and corrupted files', () => {
  it('kill -9 during a burst, restart: reconciled with the ledger, nothing duplicated or lost', async () => {
    const cfg = writeConfig('burst');
    const first = await startReady(cfg);
    const executed = () => broker.ledger.deals.filter((d) => d.comment.startsWith('crash1.')).length;
    // Spread executions over ~300 ms so that the crash finds orders in every stage.
    broker.setFaults({ latency: { fixedMs: 1, jitterMs: 300 } });
    const burstDone = burst(first.url, 600);
    // Crash while the burst is in flight: as soon as the broker has executed 30 of its orders.
    await waitFor(() => executed() >= 30 || undefined, { what: 'burst executing at the broker', timeoutMs: 20_000, intervalMs: 1 });
    await kill9(first);
    broker.setFaults({});
    const sentAtKill = executed();
    const acked = await burstDone;
    expect(sentAtKill).toBeLessThan(600);
    const second = await startReady(cfg);
    try {
      await waitFor(async () => ((await state(second.url)).orders.every((o) => ['filled', 'reconciled', 'rejected', 'failed'].includes(o.state)) ? true : undefined), {
        what: 'every order terminal after restart',
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      const known = new Set((await state(second.url)).orders.map((o) => o.clientId));
      checkLedger('crash1', known, acked);
      const evs = await events(second.url);
      // The crash left orders in flight: the start-up reconciliation had to resolve some from the ledger.
      const startup = evs.find((e) => e.type === 'reconcile.done' && e.data?.startup === true);
      expect(Number(startup?.data?.resolved)).toBeGreaterThan(0);
    } finally {
      await kill9(second);
    }
  });

  it('takes --port and --instance from the command line (as the supervisor starts it)', async () => {
    const cfg = writeConfig('flags', {}, 'flags1');
    const port = await freePort();
    const p = await spawnRuntime(cfg, ['--port', String(port), '--instance', 'flags2']).started;
    try {
      expect(p.url).toBe(`http://127.0.0.1:${port}`);
      await waitFor(async () => ((await fetch(`${p.url}/ready`)).status === 200 ? true : undefined), { what: 'ready', timeoutMs: 20_000, intervalMs: 20 });
      expect(((await (await fetch(`${p.url}/health`)).json()) as { instance: string }).instance).toBe('flags2');
    } finally {
      await kill9(p);
    }
    const bad = spawnRuntime(cfg, ['--port', 'eighty']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--port/);
  });

  it('a DuckDB file locked by another runtime: clear error after a bounded retry, no crash loop', async () => {
    const cfg = writeConfig('locked', {}, 'lock1');
    const holder = await startReady(cfg);
    try {
      const second = spawnRuntime(cfg);
      const code = await second.exited;
      expect(code).toBe(1);
      expect(second.stderr()).toMatch(/locked by another process.*E_DUCKDB_LOCKED/s);
    } finally {
      await kill9(holder);
    }
  });

  it('a corrupted WAL after kill -9 is repaired from the backup (and the broker): no order lost or duplicated', async () => {
    const cfg = writeConfig('wal', {}, 'wal1');
    const first = await startReady(cfg);
    const acked = await burst(first.url, 150);
    await waitFor(async () => ((await state(first.url)).orders.every((o) => o.state === 'filled') ? true : undefined), { what: 'burst filled', timeoutMs: 10_000 }).catch(async (e: unknown) => {
      const counts: Record<string, number> = {};
      for (const o of (await state(first.url)).orders) counts[o.state] = (counts[o.state] ?? 0) + 1;
      throw new Error(`${(e as Error).message}: ${JSON.stringify(counts)}`);
    });
    // Let one backup cycle (25 ms at this time scale) include the burst, then crash.
    await waitFor(async () => ((await (await fetch(`${first.url}/ready`)).json()) as { components: { duckdb: { lastBackup?: { rows: number } } } }).components.duckdb.lastBackup ? true : undefined, { what: 'a backup', timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    await kill9(first);
    const dataDir = join(tmp.dir, 'data-wal');
    const wal = join(dataDir, 'wal1.duckdb.wal');
    expect(existsSync(wal)).toBe(true);
    const bytes = readFileSync(wal);
    expect(bytes.length).toBeGreaterThan(1000);
    for (let i = Math.floor(bytes.length / 3); i < bytes.length; i += 13) bytes[i] = bytes[i]! ^ 0xff;
    writeFileSync(wal, bytes);
    const second = await startReady(cfg);
    try {
      const evs = await events(second.url);
      const restored = evs.find((e) => e.type === 'duckdb.restored');
      const adopted = evs.filter((e) => e.type === 'reconcile.order_adopted').length;
      expect(restored !== undefined || adopted > 0).toBe(true);
      const known = new Set((await state(second.url)).orders.map((o) => o.clientId));
      checkLedger('wal1', known, acked);
      expect(readdirSync(dataDir).some((f) => f.endsWith('.backup'))).toBe(true);
    } finally {
      await kill9(second);
    }
  });

  it('a corrupted config is restored from its last-good copy with an event; without one the runtime refuses to start, naming the field', async () => {
    const cfg = writeConfig('conf', {}, 'conf1');
    const first = await startReady(cfg);
    await kill9(first);
    const good = readFileSync(cfg, 'utf8');
    expect(readFileSync(`${cfg}.last-good`, 'utf8')).toBe(good);
    writeFileSync(cfg, good.slice(0, good.length / 2)); // truncated JSON
    const second = await startReady(cfg);
    try {
      const evs = await events(second.url);
      expect(evs.some((e) => e.type === 'config.restored')).toBe(true);
      expect(readFileSync(cfg, 'utf8')).toBe(good);
      expect(readdirSync(tmp.dir).some((f) => f.startsWith('conf.json.corrupt-'))).toBe(true);
      expect(second.stderr()).toMatch(/restored from last-good backup/);
    } finally {
      await kill9(second);
    }
    const fresh = join(tmp.dir, 'fresh.json');
    const doc = JSON.parse(good) as { runtime: Record<string, unknown> };
    doc.runtime.magic = 'seven';
    writeFileSync(fresh, JSON.stringify(doc));
    const bad = spawnRuntime(fresh);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/runtime\.magic/);
    expect(statSync(fresh).size).toBeGreaterThan(0);
  });
});
