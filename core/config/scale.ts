import type { Config } from './schema.ts';

/**
 * Policy durations: the intervals the runtime itself waits out. These are what
 * `timeScale` compresses. Physical recoveries (Sentinel failover, process
 * restart, UDP fallback) and the goals are measured in real time and stay as
 * they are; Sentinel timings are left alone because Redis runs in real time.
 * The supervisor's restart interval and cooldown window are not scaled either:
 * a restart takes real time, and a 30 s window compressed below the time of
 * three restarts could never see "3 restarts within the cooldown".
 */
export const SCALED_DURATIONS = [
  'trade.backoffMs',
  'trade.failedSyncRetryMs',
  'trade.maxClickhouseSyncDelayMs',
  'trade.redisRetryMs',
  'tick.reconnectIntervalMs',
  'redis.reconnectIntervalMs',
  'duckdb.backupIntervalMs',
  'clickhouse.retryIntervalMs',
  'clickhouse.failedSyncRetryMs',
  'session.reconnectIntervalMs',
] as const;

export type ScaledPath = (typeof SCALED_DURATIONS)[number];

function scaleValue(v: unknown, f: number): unknown {
  if (typeof v === 'number') return Math.max(1, Math.round(v * f));
  if (Array.isArray(v)) return v.map((x) => scaleValue(x, f));
  return v;
}

/** The effective config: policy durations multiplied by `timeScale`. */
export function applyTimeScale(config: Config): Config {
  const out = structuredClone(config);
  if (config.timeScale === 1) return out;
  for (const path of SCALED_DURATIONS) {
    const [section, key] = path.split('.') as [keyof Config, string];
    const obj = out[section] as unknown as Record<string, unknown>;
    obj[key] = scaleValue(obj[key], config.timeScale);
  }
  return out;
}
