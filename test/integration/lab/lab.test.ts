import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';
import { LocalLab } from '../../../lab/index.ts';
import { isAlive } from '../../../lab/process.ts';
import { tempLabDir } from '../../helpers/labs.ts';

describe('local lab (real redis-server, redis-sentinel, clickhouse-server)', () => {
  let lab: LocalLab;
  let pids: number[] = [];

  beforeAll(async () => {
    lab = await LocalLab.start({ dir: tempLabDir('lab') });
    pids = Object.values(lab.info.pids);
  });
  afterAll(async () => {
    await lab?.stop({ clean: true });
  });

  it('reports the documented status shape', async () => {
    const s = await lab.status();
    expect(s.redis.master.host).toBe('127.0.0.1');
    expect(s.redis.replicas).toHaveLength(1);
    expect(s.sentinels).toHaveLength(3);
    expect(s.sentinelMasterName).toBe('ea-master');
    expect(s.clickhouse.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Object.keys(s.pids).sort()).toEqual(['clickhouse', 'redis-master', 'redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3']);
    expect(s.versions.clickhouse).toMatch(/^\d+\.\d+/);
  });

  it('@clickhouse/client creates a table, inserts and reads back (SQL valid on 18.16)', async () => {
    const ch = createClient({ url: lab.info.clickhouse.url });
    try {
      await ch.command({
        query: `CREATE TABLE IF NOT EXISTS lab_orders (id String, ts DateTime, ts_ms UInt64, qty Float64, version UInt64)
                ENGINE = ReplacingMergeTree(version) ORDER BY id`,
      });
      const now = Date.now();
      const row = (v: number, qty: number) => ({ id: 'o-1', ts: Math.floor(now / 1000), ts_ms: now, qty, version: v });
      await ch.insert({ table: 'lab_orders', values: [row(1, 0.1), row(2, 0.2), row(1, 0.1)], format: 'JSONEachRow' });
      const rows = (await (await ch.query({ query: 'SELECT id, qty, version, ts_ms FROM lab_orders FINAL', format: 'JSONEachRow' })).json()) as {
        id: string;
        qty: number;
        version: string | number;
        ts_ms: string | number;
      }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.qty).toBe(0.2);
      expect(Number(rows[0]!.version)).toBe(2);
      expect(Number(rows[0]!.ts_ms)).toBe(now);
    } finally {
      await ch.close();
    }
  });

  it('ioredis through the Sentinels writes to the master, and after kill -9 of the master writes succeed on the promoted replica', async () => {
    const before = await lab.status();
    const redis = new Redis({
      sentinels: lab.info.sentinels,
      name: lab.info.sentinelMasterName,
      retryStrategy: () => 20,
      sentinelRetryStrategy: () => 20,
      connectTimeout: 300,
      maxRetriesPerRequest: 1,
    });
    redis.on('error', () => {});
    try {
      await redis.set('lab:k', 'before');
      const role = (await redis.call('ROLE')) as unknown[];
      expect(role[0]).toBe('master');

      const t0 = performance.now();
      await lab.kill('redis-master');
      let writes = 0;
      // The old master is dead and a replica answers READONLY, so the first write that
      // succeeds is on the promoted replica; the server is asked for its port to prove it.
      await waitFor(
        async () => {
          await Promise.race([redis.set('lab:k', `after-${writes++}`), new Promise((_, rej) => setTimeout(() => rej(new Error('write timeout')), 250))]);
          return true;
        },
        { what: 'a write on the promoted replica', timeoutMs: 15_000, intervalMs: 5 },
      );
      const ms = Math.round(performance.now() - t0);
      const newMaster = Number(((await redis.call('CONFIG', 'GET', 'port')) as string[])[1]);
      console.log(`[lab] killed master -> first write on new master (port ${newMaster}): ${ms} ms`);
      expect(newMaster).toBe(before.redis.replicas[0]!.port);
      expect(await redis.get('lab:k')).toMatch(/^after-/);
      const after = await lab.status();
      expect(after.redis.master.port).toBe(newMaster);
    } finally {
      redis.disconnect();
    }
  });

  it('a killed service can be started again with its data', async () => {
    await lab.start('redis-master');
    expect(lab.isRunning('redis-master')).toBe(true);
    pids = [...new Set([...pids, ...Object.values(lab.info.pids)])];
  });

  it('stop() leaves no process of the lab alive, and is idempotent', async () => {
    await lab.stop();
    await lab.stop();
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
  });
});
