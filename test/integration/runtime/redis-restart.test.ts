import { rmSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { LocalLab } from '../../../lab/index.ts';
import { AOF_DIR } from '../../../lab/redis.ts';
import { redisCommand, respPairs } from '../../../lab/resp.ts';
import { startRuntime, type RuntimeHandle } from '../../../runtime/main.ts';
import { startBroker, startFeed, type BrokerHandle, type FeedHandle } from '../../../simulator/index.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * A Redis master restarted in a few ms can come back before any write of the
 * runtime failed. When it comes back without the runtime's data (here: its AOF is
 * gone and there is no snapshot, so it starts empty), the new run_id alone must
 * make the runtime rebuild Redis from DuckDB.
 */
let lab: LocalLab;
let feed: FeedHandle;
let broker: BrokerHandle;
let rt: RuntimeHandle;
let config: ReturnType<typeof testConfig>;
const tmp = tempDir('redis-restart');
const labTmp = tempDir('redis-restart-lab');

beforeAll(async () => {
  lab = await LocalLab.start({ dir: labTmp.dir });
  feed = await startFeed({ seed: 5, port: 0, ticksPerSecond: 50 });
  broker = await startBroker({ seed: 5, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
  // No feed and no periodic reconcile pass: nothing rewrites orders or positions, so the runtime can be made quiet.
  config = testConfig({ dir: tmp.dir, broker: { host: broker.host, port: broker.port }, redis: { sentinels: lab.info.sentinels }, masterName: lab.info.sentinelMasterName, extra: { reconcileIntervalMs: 60_000 } });
  rt = await startRuntime({ config, logger: silentLogger });
  await waitFor(() => rt.isReady() || undefined, { what: 'runtime ready', timeoutMs: 15_000 });
});

afterAll(async () => {
  await rt?.stop();
  await broker?.stop();
  await feed?.stop();
  await lab?.stop({ clean: true });
  tmp.cleanup();
  labTmp.cleanup();
});

describe('runtime: a Redis master that restarts empty before any write failed', () => {
  it('is rebuilt from DuckDB on the new run_id alone', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await rt.engine.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 100 })).clientId);
    const m = lab.info.redis.master;
    const rts = async () => respPairs(await redisCommand(m.host, m.port, ['HGETALL', 'ea:rts:rt1:orders'], 1000));
    await waitFor(async () => {
      const have = await rts();
      return ids.every((id) => id in have) && rt.redis!.backlog === 0 ? true : undefined;
    }, { what: 'the orders in Redis', timeoutMs: 10_000, intervalMs: 20 });
    // Quiet: no order changes, so no write of the runtime can fail while Redis is away.
    const from = rt.events.since(0).at(-1)?.seq ?? 0;
    await Promise.all([lab.kill('redis-master', 'SIGKILL'), lab.kill('redis-replica', 'SIGKILL')]);
    rmSync(join(labTmp.dir, 'redis-master', AOF_DIR), { recursive: true, force: true });
    expect(await lab.start('redis-master')).toBeUndefined();
    await lab.start('redis-replica');
    await waitFor(() => (rt.events.since(from).some((e) => e.type === 'redis.rebuilt') ? true : undefined), { what: 'redis.rebuilt', timeoutMs: 10_000, intervalMs: 20 });
    const types = rt.events.since(from).map((e) => e.type);
    expect(types).toContain('redis.master_changed');
    // No write failed in between: the rebuild came from the new run_id alone.
    expect(types, JSON.stringify(rt.events.since(from).map((e) => [e.type, e.data]))).not.toContain('redis.down');
    const back = await rts();
    for (const id of ids) expect(back[id], id).toBeDefined();
  });

  it('after a crash that lost DuckDB rows Redis already had, the newer Redis rows come back before Redis is rewritten', async () => {
    const o = await rt.engine.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 100 });
    await waitFor(() => (rt.engine.orders.get(o.clientId)?.state === 'filled' ? true : undefined), { what: 'the order filled', timeoutMs: 10_000, intervalMs: 10 });
    const m = lab.info.redis.master;
    const redisState = async () => {
      const v = respPairs(await redisCommand(m.host, m.port, ['HGETALL', 'ea:rts:rt1:orders'], 1000))[o.clientId];
      return v ? (JSON.parse((JSON.parse(v) as { data: string }).data) as { state: string }).state : undefined;
    };
    await waitFor(async () => ((await redisState()) === 'filled' && rt.redis!.backlog === 0 ? true : undefined), { what: 'the fill in Redis', timeoutMs: 10_000, intervalMs: 20 });
    await rt.stop();
    // What a kill inside the lazy window leaves: DuckDB has the order one step behind Redis.
    const db = await DuckDBInstance.create(join(tmp.dir, 'rt1.duckdb'));
    const c = await db.connect();
    try {
      await c.run(`UPDATE orders SET state = 'persisted', rev = rev - 1, data = replace(data, '"state":"filled"', '"state":"persisted"') WHERE client_id = $1`, [o.clientId]);
    } finally {
      c.closeSync();
      db.closeSync();
    }
    rt = await startRuntime({ config, logger: silentLogger });
    await waitFor(() => rt.isReady() || undefined, { what: 'runtime ready again', timeoutMs: 15_000 });
    expect(rt.engine.orders.get(o.clientId)?.state).toBe('filled');
    expect(rt.events.since(0).some((e) => e.type === 'duckdb.rebuilt' && e.data?.from === 'redis')).toBe(true);
    // The resync that follows writes the merged state, so Redis never goes back to the older row.
    await waitFor(() => (rt.events.since(0).some((e) => e.type === 'redis.resynced' || e.type === 'redis.rebuilt') ? true : undefined), { what: 'the resync', timeoutMs: 10_000, intervalMs: 20 });
    expect(await redisState()).toBe('filled');
  });
});
