import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';
import { LocalLab } from '../../../lab/index.ts';
import type { StreamTick } from '../../../runtime/stream/codec.ts';
import { WorkerTickHistory } from '../../../runtime/stream/history-thread.ts';
import type { TickSyncEvent } from '../../../runtime/stream/tick-sync.ts';
import { tempLabDir } from '../../helpers/labs.ts';

/**
 * Ticks reach a real clickhouse-server 18.16 from the history worker: every tick once (after FINAL),
 * through an outage (retries, parked, drained as soon as the server answers again), and a restart of
 * the worker goes on from its marks instead of starting over.
 */
const st = (seq: number, epoch: number): StreamTick => ({
  epoch,
  seq,
  tick: { symbol: seq % 2 ? 'EURUSD' : 'GBPUSD', bid: 1 + seq / 1e5, ask: 1.0002 + seq / 1e5, last: 0, volume: 0, time_msc: 1_790_000_000_000 + seq, flags: 6 },
});

describe('ClickHouse tick sync from the history worker (real clickhouse-server)', () => {
  let lab: LocalLab;
  const dir = tempLabDir('tick-sync');
  const file = join(dir, 'ts.ticks.duckdb');
  const events: TickSyncEvent[] = [];
  const sync = () => ({
    url: lab.info.clickhouse.url,
    database: 'ea_tick_sync',
    instanceId: 'ts-1',
    intervalMs: 100,
    retryIntervalMs: 200,
    maxRetryAttempts: 3,
    drainIntervalMs: 60_000,
    healthProbeIntervalMs: 50,
  });
  const ch = () => createClient({ url: lab.info.clickhouse.url, log: { level: ClickHouseLogLevel.OFF } });
  const counts = async () => {
    const c = ch();
    try {
      const r = await c.query({ query: "SELECT count() AS n, uniqExact(epoch, seq) AS u FROM ea_tick_sync.ticks FINAL WHERE instance = 'ts-1'", format: 'JSONEachRow' });
      const [row] = (await r.json()) as { n: string; u: string }[];
      return { n: Number(row!.n), u: Number(row!.u) };
    } catch {
      return { n: -1, u: -1 };
    } finally {
      await c.close();
    }
  };

  beforeAll(async () => {
    lab = await LocalLab.start({ dir: join(dir, 'lab') });
  });
  afterAll(async () => {
    await lab?.stop({ clean: true });
  });

  it('syncs every tick once, rides out an outage, and resumes from its marks after a restart', async () => {
    const h = await WorkerTickHistory.open({ path: file, clickhouse: sync(), onEvent: (e) => events.push(e) });
    try {
      for (let seq = 1; seq <= 500; seq++) {
        h.append(st(seq, 11), Date.now());
        if (seq % 100 === 0) await nextTurn();
      }
      await waitFor(async () => ((await counts()).n === 500 ? true : undefined), { what: '500 ticks in ClickHouse', timeoutMs: 15_000, intervalMs: 100 });

      await lab.kill('clickhouse', 'SIGKILL');
      for (let seq = 501; seq <= 800; seq++) h.append(st(seq, 11), Date.now());
      await waitFor(() => events.find((e) => e.type === 'tick_sync.parked'), { what: 'tick sync parked after 3 retries', timeoutMs: 15_000, intervalMs: 20 });
      expect(events.filter((e) => e.type === 'tick_sync.retry').map((e) => (e.data as { attempt: number }).attempt)).toEqual([1, 2, 3]);
      const back = performance.now();
      await lab.start('clickhouse');
      // The drain period is a minute here: only the health probe can bring the backlog over this fast.
      await waitFor(() => events.find((e) => e.type === 'tick_sync.drained'), { what: 'tick sync drained', timeoutMs: 10_000, intervalMs: 20 });
      expect(performance.now() - back).toBeLessThan(10_000);
      await waitFor(async () => ((await counts()).n === 800 ? true : undefined), { what: '800 ticks in ClickHouse', timeoutMs: 15_000, intervalMs: 100 });
    } finally {
      await h.close();
    }
    expect(await counts()).toEqual({ n: 800, u: 800 });

    // A new worker on the same file sends only what its marks say is new: a new epoch's ticks.
    const again = await WorkerTickHistory.open({ path: file, clickhouse: sync(), onEvent: (e) => events.push(e) });
    try {
      for (let seq = 1; seq <= 50; seq++) again.append(st(seq, 12), Date.now());
    } finally {
      await again.close();
    }
    expect(again.stats().worker?.ticksSynced).toBe(50);
    expect(await counts()).toEqual({ n: 850, u: 850 });
  });
});
