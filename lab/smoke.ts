import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import type { LabInfo } from './types.ts';

export interface SmokeResult {
  service: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/**
 * Touch every service the way the runtime will: a write and read through the
 * Sentinels with ioredis, and a table round trip through @clickhouse/client
 * (SQL that runs on ClickHouse 18.16 and on current releases).
 */
export async function smokeCheck(info: LabInfo): Promise<SmokeResult[]> {
  const out: SmokeResult[] = [];
  const time = async (service: string, fn: () => Promise<string>) => {
    const t0 = performance.now();
    try {
      out.push({ service, ok: true, detail: await fn(), ms: Math.round(performance.now() - t0) });
    } catch (e) {
      out.push({ service, ok: false, detail: (e as Error).message, ms: Math.round(performance.now() - t0) });
    }
  };
  await time('redis (via sentinels)', async () => {
    const redis = new Redis({
      sentinels: info.sentinels,
      name: info.sentinelMasterName,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      sentinelRetryStrategy: () => null,
      retryStrategy: () => null,
    });
    try {
      await redis.connect();
      const key = `ea-chaos:smoke:${process.pid}`;
      await redis.set(key, 'ok', 'EX', 60);
      const v = await redis.get(key);
      if (v !== 'ok') throw new Error(`read back ${v}`);
      return `SET/GET ok on master ${info.redis.master.host}:${info.redis.master.port}`;
    } finally {
      redis.disconnect();
    }
  });
  for (const s of info.sentinels) {
    await time(`sentinel ${s.host}:${s.port}`, async () => {
      const r = new Redis({ host: s.host, port: s.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
      try {
        await r.connect();
        const m = (await r.call('SENTINEL', 'get-master-addr-by-name', info.sentinelMasterName)) as string[];
        return `master is ${m[0]}:${m[1]}`;
      } finally {
        r.disconnect();
      }
    });
  }
  await time('clickhouse', async () => {
    const ch = createClient({ url: info.clickhouse.url, request_timeout: 5000 });
    try {
      const table = `ea_chaos_smoke_${process.pid}`;
      await ch.command({ query: `CREATE TABLE IF NOT EXISTS ${table} (id UInt64, ts DateTime, ts_ms UInt64, v String) ENGINE = MergeTree ORDER BY id` });
      await ch.insert({ table, values: [{ id: 1, ts: Math.floor(Date.now() / 1000), ts_ms: Date.now(), v: 'ok' }], format: 'JSONEachRow' });
      const rows = (await (await ch.query({ query: `SELECT v FROM ${table} WHERE id = 1`, format: 'JSONEachRow' })).json()) as { v: string }[];
      await ch.command({ query: `DROP TABLE ${table}` });
      if (rows[0]?.v !== 'ok') throw new Error(`read back ${JSON.stringify(rows)}`);
      return `CREATE/INSERT/SELECT ok (${info.versions.clickhouse ?? 'version unknown'})`;
    } finally {
      await ch.close();
    }
  });
  return out;
}
