import { existsSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import type { Endpoint } from '../lab/types.ts';
import type { StoreOrder, StreamTickKey } from './history/index.ts';

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

/**
 * The ticks one instance synced to ClickHouse, by its stream (epoch, seq), with FINAL so a
 * batch resent after a lost answer counts once. A reachable ClickHouse without the table holds
 * none ([]); null only when ClickHouse cannot be read.
 */
export async function clickhouseTicks(url: string, database: string, instance: string): Promise<StreamTickKey[] | null> {
  const ch = createClient({ url, request_timeout: 10_000 });
  try {
    const db = database.replace(/[^A-Za-z0-9_]/g, '');
    const has = await ch.query({ query: `SELECT count() AS n FROM system.tables WHERE database = '${db}' AND name = 'ticks'`, format: 'JSONEachRow' });
    if (Number(((await has.json()) as { n: string | number }[])[0]?.n ?? 0) === 0) return [];
    const rs = await ch.query({ query: `SELECT epoch, seq FROM ${db}.ticks FINAL WHERE instance = '${instance.replace(/'/g, '')}'`, format: 'JSONEachRow' });
    return ((await rs.json()) as { epoch: string | number; seq: string | number }[]).map((r) => ({ epoch: Number(r.epoch), seq: Number(r.seq) }));
  } catch {
    return null;
  } finally {
    await ch.close();
  }
}

/**
 * Open a DuckDB file read-only (after its runtime let go of it), run `fn`, close it. Null when the
 * file is missing or cannot be read: the checker that needs it then says "unknown".
 */
export async function readDuckDB<T>(file: string, fn: (c: DuckDBConnection) => Promise<T>): Promise<T | null> {
  if (!existsSync(file)) return null;
  try {
    const db = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
    const conn = await db.connect();
    try {
      return await fn(conn);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  } catch {
    return null;
  }
}

/** The runtimes' orders as their DuckDB files hold them; null if any file cannot be read. */
export async function duckdbOrders(files: string[]): Promise<StoreOrder[] | null> {
  const out: StoreOrder[] = [];
  for (const f of files) {
    const rows = await readDuckDB(f, async (c) => (await c.runAndReadAll('SELECT client_id, state, rev FROM orders')).getRowObjects());
    if (!rows) return null;
    for (const row of rows) out.push({ clientId: String(row.client_id), state: String(row.state), rev: Number(row.rev) });
  }
  return out;
}
