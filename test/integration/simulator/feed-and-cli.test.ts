import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';
import { startFeed } from '../../../simulator/feed/server.ts';
import { BrokerClient } from '../../../simulator/protocol/broker-client.ts';
import { FeedClient } from '../../../simulator/protocol/feed-client.ts';
import type { FeedHello, Tick } from '../../../simulator/protocol/types.ts';

const BIN = fileURLToPath(new URL('../../../bin/ea-chaos.js', import.meta.url));
const children = new Set<ChildProcess>();

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('market-data feed over TCP', () => {
  it('a subscriber receives every tick in seq order with none lost, matching the feed record', async () => {
    await using feed = await startFeed({ seed: 4, port: 0, ticksPerSecond: 2000 });
    const got: Tick[] = [];
    let hello: FeedHello['hello'] | undefined;
    await using client = await FeedClient.connect({ host: feed.host, port: feed.port, onTick: (t) => got.push(t), onHello: (h) => (hello = h) });
    await waitFor(() => (got.length >= 1000 ? true : undefined), { what: '1000 ticks', timeoutMs: 10_000 });
    expect(hello).toMatchObject({ epoch: feed.epoch, symbols: ['EURUSD', 'GBPUSD', 'USDJPY'] });
    const bySeq = new Map<string, number>();
    for (const t of got) {
      const prev = bySeq.get(t.stream);
      if (prev !== undefined) expect(t.seq).toBe(prev + 1);
      bySeq.set(t.stream, t.seq);
      expect(t.bid).toBeLessThan(t.ask);
    }
    const emitted = new Map(feed.emitted().map((t) => [`${t.stream}:${t.seq}`, t]));
    for (const t of got) expect(emitted.get(`${t.stream}:${t.seq}`)).toEqual(t);
  });

  it('a subscribe line restricts the stream to the named symbols', async () => {
    await using feed = await startFeed({ seed: 5, port: 0, ticksPerSecond: 2000 });
    const got: Tick[] = [];
    await using _c = await FeedClient.connect({ host: feed.host, port: feed.port, symbols: ['USDJPY'], onTick: (t) => got.push(t) });
    const countAfter = feed.stats().emitted;
    await waitFor(() => (feed.stats().emitted > countAfter + 500 && got.length > 20 ? true : undefined), { what: 'ticks', timeoutMs: 10_000 });
    // Ticks before the subscribe line arrived may be for any symbol; after it, only USDJPY.
    const firstJpy = got.findIndex((t) => t.symbol === 'USDJPY');
    const tail = got.slice(Math.max(firstJpy, got.length - 20));
    expect(tail.every((t) => t.symbol === 'USDJPY')).toBe(true);
  });

  it('a restart starts a new epoch with seq from 1 and drops subscribers', async () => {
    await using feed = await startFeed({ seed: 6, port: 0, ticksPerSecond: 500, epoch: 10 });
    let closed = false;
    const first = await FeedClient.connect({ host: feed.host, port: feed.port, onTick: () => undefined, onClose: () => (closed = true) });
    await feed.restart({ downMs: 50 });
    await waitFor(() => (closed ? true : undefined), { what: 'old subscriber dropped', timeoutMs: 5000 });
    await first.stop();
    const got: Tick[] = [];
    await using _c = await FeedClient.connect({ host: feed.host, port: feed.port, onTick: (t) => got.push(t) });
    await waitFor(() => (got.length > 5 ? true : undefined), { what: 'ticks after restart', timeoutMs: 5000 });
    expect(feed.epoch).toBe(11);
    expect(got.every((t) => t.epoch === 11)).toBe(true);
    expect(feed.emitted().filter((t) => t.epoch === 11)[0]!.seq).toBe(1);
  });
});

describe('feed admin API', () => {
  it('serves the tick record by stream and seq range, stats, rate changes and restart', async () => {
    await using feed = await startFeed({ seed: 8, port: 0, adminPort: 0, ticksPerSecond: 500, epoch: 1 });
    expect(feed.endpoint.admin).toBe(feed.admin);
    const get = async (path: string, method = 'GET') => {
      const r = await fetch(`${feed.admin}${path}`, { method });
      return { status: r.status, json: (await r.json()) as any };
    };
    await waitFor(() => ((feed.stats().lastSeq.EURUSD ?? 0) >= 10 ? true : undefined), { what: 'ticks', timeoutMs: 5000 });
    const ticks = (await get('/ticks?stream=EURUSD&from_seq=3&to_seq=7')).json as Tick[];
    expect(ticks.map((t) => t.seq)).toEqual([3, 4, 5, 6, 7]);
    expect(ticks).toEqual(feed.emitted('EURUSD').filter((t) => t.seq >= 3 && t.seq <= 7));
    expect((await get('/stats')).json).toMatchObject({ epoch: 1, ticksPerSecond: 500 });
    expect((await get('/rate?ticksPerSecond=50', 'POST')).json.ticksPerSecond).toBe(50);
    expect((await get('/rate?ticksPerSecond=-1', 'POST')).status).toBe(400);
    expect((await get('/ticks?from_seq=abc')).status).toBe(400);
    expect((await get('/restart', 'POST')).json).toEqual({ ok: true, epoch: 2 });
    expect((await get('/ticks?epoch=1&stream=EURUSD&to_seq=3')).json.map((t: Tick) => t.seq)).toEqual([1, 2, 3]);
  });
});

describe('ea-chaos simulate (CLI)', () => {
  it('simulate all --port 0 prints its endpoints as one JSON line, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'simulate', 'all', '--port', '0', '--seed', '3', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const rl = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([once(rl, 'line'), once(child, 'exit').then(() => [`exited: ${stderr}`])])) as [string];
    const ep = JSON.parse(line) as { broker: { host: string; port: number; admin: string }; feed: { host: string; port: number; admin: string } };
    expect(ep.broker.port).toBeGreaterThan(0);
    expect(ep.feed.admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ep.feed.port).toBeGreaterThan(0);
    expect(ep.broker.admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await using c = await BrokerClient.connect({ host: ep.broker.host, port: ep.broker.port });
    const tick = await c.request('symbol_info_tick', { symbol: 'EURUSD' });
    expect((await c.orderSend({ action: 1, symbol: 'EURUSD', volume: 0.01, type: 1, price: tick!.bid, deviation: 100_000, comment: 'cli' })).retcode).toBe(10009);
    const health = await (await fetch(`${ep.broker.admin}/health`)).json();
    expect(health).toEqual({ ok: true });
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exit) as [number | null];
    expect(code).toBe(0);
  });

  it('a bad profile exits 2 naming the field; a bad flag exits non-zero naming the flag', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/sim-`);
    writeFileSync(`${dir}/p.yaml`, 'broker:\n  faults:\n    latency:\n      fixedMs: -5\n');
    const run = async (args: string[]) => {
      const child = spawn(process.execPath, [BIN, 'simulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const [code] = (await once(child, 'exit')) as [number];
      return { code, err };
    };
    const bad = await run(['all', '--profile', `${dir}/p.yaml`]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('broker.faults.latency.fixedMs');
    const flag = await run(['broker', '--port', 'x']);
    expect(flag.code).not.toBe(0);
    expect(flag.err).toContain('--port');
  });
});
