import { z } from 'zod';

/**
 * One schema for every number in the fault-tolerance design (seed §3) and every
 * recovery goal (seed §5). Defaults are the seed's numbers; the comment on each
 * field cites the seed. Durations are milliseconds at full time scale; policy
 * durations are compressed by `timeScale` (see scale.ts), goals are not.
 */
const ms = (def: number) => z.number().int().nonnegative().default(def);
const count = (def: number) => z.number().int().positive().default(def);
const sub = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).prefault({} as never);

export const TradeConfigSchema = sub({
  /** §3.1 "Backoff interval → 1s → 2s → 4s → 8s → 16s". */
  backoffMs: z.array(z.number().int().positive()).min(1).default([1000, 2000, 4000, 8000, 16000]),
  /** §3.1 "Max retry attempts → 5". */
  maxAttempts: count(5),
  /** §3.1 step 2: failed orders go to DuckDB `failed_syncs`, retried "every 30 seconds". */
  failedSyncRetryMs: ms(30_000),
  /** §3.1 step 2: "(up to 5 attempts)". */
  failedSyncMaxAttempts: count(5),
  /** §3.1 "Max ClickHouse sync delay → 30 seconds". */
  maxClickhouseSyncDelayMs: ms(30_000),
  /** §3.1 step 4: "If Redis is unavailable → save trade state in DuckDB → retry after 2 seconds". */
  redisRetryMs: ms(2000),
  /** §3.1 "Redis fallback threshold → 10 attempts", then fall back to ClickHouse state. */
  redisFallbackThreshold: count(10),
  /**
   * Not in the seed: how often the broker is probed while orders wait in backoff.
   * The seed's backoff (up to 16 s) cannot meet its own < 1 s trade-execution goal,
   * so a probe that sees the broker back releases waiting orders at once.
   */
  brokerProbeIntervalMs: ms(100),
  /** Not in the seed: how long an order_send may take before its outcome is unknown. */
  orderTimeoutMs: ms(2000),
});

export const TickConfigSchema = sub({
  /** §3.2 "UDP to TCP fallback → Enabled". */
  udpToTcpFallback: z.boolean().default(true),
  /** §3.2 "Reconnect interval → 2 seconds". */
  reconnectIntervalMs: ms(2000),
  /** §3.2 "Max reconnect attempts → 10". */
  maxReconnectAttempts: count(10),
  /** §3.2 "Buffer size → Latest tick only": one tick per symbol. */
  bufferSize: z.literal(1).default(1),
  /** §2.2: history beyond 24 h may be lost, so 24 h is what is retained and served. */
  historyRetentionMs: ms(24 * 3600_000),
  /**
   * Not in the seed: the receiver's heartbeat period and how many missed beats
   * declare UDP dead. 10 ms x 3 detects a dead path in ~30 ms (measured-pitfalls),
   * inside the 100 ms goal, with room for event-loop stalls.
   */
  heartbeatIntervalMs: ms(10),
  missedHeartbeats: count(3),
});

export const RedisConfigSchema = sub({
  /** Sentinel master name. */
  masterName: z.string().min(1).default('ea-master'),
  /** §3.3 "Sentinel failover time → <3 seconds" (a bound, checked as a goal). */
  sentinelFailoverMs: ms(3000),
  /**
   * Sentinel `down-after-milliseconds`. Not in the seed; chosen so that a killed
   * master is replaced well under 3 s (failover ≈ down-after + ~1 s of Sentinel
   * confirming, measured in docs/performance.md).
   */
  sentinelDownAfterMs: z.number().int().min(50).default(250),
  /** Sentinel `failover-timeout`: a failed failover is retried after this. */
  sentinelFailoverTimeoutMs: z.number().int().min(100).default(2000),
  /**
   * Lab only: Sentinel's internal timers (`SENTINEL DEBUG`, Redis >= 7.0). Not in the
   * seed; the defaults (ping 1 s, ask 1 s, info 10 s) keep a failover near 2 s. An
   * empty object leaves Sentinel's defaults alone (as production Sentinels run).
   */
  sentinelTimers: z
    .partialRecord(z.enum(['ping-period', 'ask-period', 'info-period', 'publish-period']), z.number().int().min(10).max(60_000))
    .default({ 'ping-period': 100, 'ask-period': 100, 'info-period': 200, 'publish-period': 500 }),
  /** Sentinel quorum (3 Sentinels in the lab). */
  sentinelQuorum: count(2),
  /** §3.3 "Redis AOF enabled". */
  appendonly: z.boolean().default(true),
  appendfsync: z.enum(['always', 'everysec', 'no']).default('everysec'),
  /** §3.3 "AOF recovery time → <5 seconds". */
  aofRecoveryMs: ms(5000),
  /** §3.3 "RDB snapshot frequency → Daily": `save 86400 1`. */
  rdbSnapshotIntervalMs: ms(86_400_000),
  /** §3.1 step 4 / §3.3: reconnect cadence while Redis is down. */
  reconnectIntervalMs: ms(2000),
  maxReconnectAttempts: count(10),
});

export const DuckdbConfigSchema = sub({
  /** §3.4 "WAL enabled → Yes". */
  walEnabled: z.boolean().default(true),
  /** §3.4 "WAL size limit → 256 MB": DuckDB `wal_autocheckpoint`. */
  walLimitBytes: z.number().int().positive().default(256 * 1024 * 1024),
  /** §3.4 "Backup frequency → 500ms". */
  backupIntervalMs: ms(500),
  /** Not in the seed: bounded retry when another process holds the file lock. */
  lockRetryMs: ms(100),
  lockMaxAttempts: count(20),
});

export const ClickhouseConfigSchema = sub({
  /** §3.5 "Retry interval → 5 seconds". */
  retryIntervalMs: ms(5000),
  /** §3.5 "Max retry attempts → 3". */
  maxRetryAttempts: count(3),
  /** §3.5 "Backoff interval → 30 seconds": the `failed_syncs` drain period. */
  failedSyncRetryMs: ms(30_000),
  /**
   * Not in the seed: health-probe period. The seed's 30 s drain period cannot meet
   * its own < 5 s goal, so a probe that sees ClickHouse back drains at once.
   */
  healthProbeIntervalMs: ms(250),
  database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an SQL identifier').default('ea_chaos'),
});

export const ProcessConfigSchema = sub({
  /** §3.6 "Restart interval → 1 second". */
  restartIntervalMs: ms(1000),
  /** §3.6 "Max restart attempts → 3". */
  maxRestartAttempts: count(3),
  /** §3.6 "Cooldown time → 30 seconds". */
  cooldownMs: ms(30_000),
});

export const SessionConfigSchema = sub({
  /** §3.7 "Redis Sentinel enabled → Yes". */
  sentinelEnabled: z.boolean().default(true),
  /** §3.7 "Reconnect interval → 2 seconds". */
  reconnectIntervalMs: ms(2000),
  /** §3.7 "Max recovery attempts → 5", then a new session is started. */
  maxRecoveryAttempts: count(5),
});

/** Seed §5 "Summary of Fault Tolerance Goals". */
export const GoalsConfigSchema = sub({
  tradeExecutionMs: ms(1000),
  tickStreamMs: ms(100),
  redisStateMs: ms(3000),
  duckdbMs: ms(3000),
  clickhouseSyncMs: ms(5000),
  eaProcessMs: ms(1000),
  sessionStateMs: ms(3000),
});

const Endpoint = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });

export const LabConfigSchema = sub({
  /** `local` starts Debian's services as processes; `external` uses the endpoints below. */
  provider: z.enum(['local', 'external', 'testcontainers']).default('local'),
  dir: z.string().min(1).default('.lab'),
  /** Only for the `external` provider. */
  external: z
    .strictObject({
      sentinels: z.array(Endpoint).min(1),
      masterName: z.string().min(1).optional(),
      clickhouseUrl: z.url(),
      toxiproxyUrl: z.url().optional(),
    })
    .optional(),
  /** Points the harness at a real Toxiproxy instead of the embedded one (TOXIPROXY_URL wins). */
  toxiproxyUrl: z.url().optional(),
});

export const ConfigSchema = z.strictObject({
  /** Seed of every random stream in a run. */
  seed: z.number().int().min(0).max(0xffffffff).default(1),
  /**
   * Multiplier on policy durations (backoffs, retry periods, reconnect intervals).
   * 1 is real time; 0.05 runs the policies 20x faster. Goals are never scaled.
   */
  timeScale: z.number().positive().max(100).default(1),
  trade: TradeConfigSchema,
  tick: TickConfigSchema,
  redis: RedisConfigSchema,
  duckdb: DuckdbConfigSchema,
  clickhouse: ClickhouseConfigSchema,
  process: ProcessConfigSchema,
  session: SessionConfigSchema,
  goals: GoalsConfigSchema,
  lab: LabConfigSchema,
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
