import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeConfigInput } from '../../../runtime/config.ts';

export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ea-rt-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A runtime config for tests: policies 20x faster, everything else from the arguments. */
export function testConfig(o: {
  dir: string;
  broker: { host: string; port: number };
  feed?: { host: string; port: number };
  redis?: { sentinels: { host: string; port: number }[] };
  clickhouse?: { url: string };
  masterName?: string;
  instanceId?: string;
  timeScale?: number;
  extra?: Record<string, unknown>;
}): RuntimeConfigInput {
  return {
    seed: 7,
    timeScale: o.timeScale ?? 0.05,
    trade: { orderTimeoutMs: 1000, brokerProbeIntervalMs: 50 },
    clickhouse: { healthProbeIntervalMs: 100, database: 'ea_rt_test' },
    ...(o.masterName ? { redis: { masterName: o.masterName } } : {}),
    runtime: {
      instanceId: o.instanceId ?? 'rt1',
      magic: 4242,
      dataDir: o.dir,
      broker: o.broker,
      ...(o.feed ? { feed: o.feed } : {}),
      ...(o.redis ? { redis: o.redis } : {}),
      ...(o.clickhouse ? { clickhouse: o.clickhouse } : {}),
      ...(o.extra ?? {}),
    },
  } as RuntimeConfigInput;
}

export async function postOrder(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  return res.json();
}
