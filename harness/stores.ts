import { existsSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import type { Endpoint } from '../lab/types.ts';
import type { StoreOrder } from './history/index.ts';

/**
 * Read each runtime's orders straight out of the three stores, the way an
 * operator would, for the cross-store consistency checker. Each reader returns
 * null when its store cannot be read: the checker then says "unknown".
 */
export async function redisOrders(sentinels: Endpoint[], masterName: string, instances: string[]): Promise<StoreOrder[] | null> {
  const r = new Redis({ sentinels, name: masterName, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, sentinelRetryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => {});
  try {
    await r.connect();
    const out: StoreOrder[] = [];
    for (const i of instances) {
      const h = await r.hgetall(`ea:rts:${i}:orders`);
      for (const [clientId, v] of Object.entries(h)) {
        const row = JSON.parse(v) as { rev?: number; data?: { state?: string } | string };
        const data = typeof row.data === 'string' ? (JSON.parse(row.data) as { state?: string }) : row.data;
        out.push({ clientId, state: String(data?.state ?? 'unknown'), ...(typeof row.rev === 'number' ? { rev: row.rev } : {}) });
      }
    }
    return out;
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

export async function clickhouseOrders(url: string, database: string, instances: string[]): Promise<StoreOrder[] | null> {
  const ch = createClient({ url, request_timeout: 5000 });
  try {
    const list = instances.map((i) => `'${i.replace(/'/g, '')}'`).join(',');
    const rs = await ch.query({ query: `SELECT client_id, state, rev FROM ${database}.orders FINAL WHERE instance IN (${list})`, format: 'JSONEachRow' });
    const rows = (await rs.json()) as { client_id: string; state: string; rev: string | number }[];
    return rows.map((r) => ({ clientId: r.client_id, state: r.state, rev: Number(r.rev) }));
  } catch {
    return null;
  } finally {
    await ch.close();
  }
}

/** A runtime's DuckDB file, read after the runtime has stopped and released its lock. */
export async function duckdbOrders(files: string[]): Promise<StoreOrder[] | null> {
  const out: StoreOrder[] = [];
  try {
    for (const f of files) {
      if (!existsSync(f)) return null;
      const db = await DuckDBInstance.create(f, { access_mode: 'READ_ONLY' });
      const conn = await db.connect();
      try {
        const reader = await conn.runAndReadAll('SELECT client_id, state, rev FROM orders');
        for (const row of reader.getRowObjects()) out.push({ clientId: String(row.client_id), state: String(row.state), rev: Number(row.rev) });
      } finally {
        conn.closeSync();
        db.closeSync();
      }
    }
    return out;
  } catch {
    return null;
  }
}
