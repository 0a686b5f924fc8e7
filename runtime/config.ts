import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { applyTimeScale, ConfigSchema, formatIssues, parseDocumentText, zodIssues } from '../core/config/index.ts';
import { ConfigError } from '../core/errors.ts';
import { NotifierSpecSchema } from './notifier.ts';

/**
 * The runtime's config file: the core schema (every seed number) plus a
 * `runtime` section with what only a running EA needs (endpoints, magic,
 * instance id, notifier, strategy). Endpoints have no defaults on purpose: the
 * runtime never starts silently on defaults (seed §2.1).
 */
const ms = (def: number) => z.number().int().nonnegative().default(def);
const Endpoint = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });

export const RuntimeSectionSchema = z.strictObject({
  /** Names this instance in RIS, Redis keys, ClickHouse rows and client order ids (first 8 alphanumerics). */
  instanceId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ or -, at most 32'),
  /** MT5 magic number tagging every order of this EA. */
  magic: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Where the DuckDB file and its backup live. */
  dataDir: z.string().min(1),
  /** The control API is loopback-only: it can submit orders and stop the process. */
  control: z
    .strictObject({
      host: z.enum(['127.0.0.1', '::1', 'localhost'], { message: 'a loopback address (127.0.0.1, ::1 or localhost)' }).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(0),
    })
    .prefault({}),
  broker: Endpoint,
  /**
   * Backup access points of the same broker (an MT5 terminal's backup servers), tried in
   * this order when the active one's circuit breaker opens after `afterFailures`
   * consecutive connection failures or timeouts; the runtime returns to `broker` when its
   * health probe sees it back.
   */
  brokerFailover: z
    .strictObject({
      backups: z.array(Endpoint).default([]),
      afterFailures: z.number().int().min(1).max(100).default(3),
    })
    .prefault({}),
  feed: Endpoint.optional(),
  redis: z.strictObject({ sentinels: z.array(Endpoint).min(1), natMap: z.record(z.string(), Endpoint).optional() }).optional(),
  clickhouse: z.strictObject({ url: z.url() }).optional(),
  /**
   * Tick streaming to a downstream consumer (seed §3.2): every feed quote is
   * forwarded over UDP to `udpPort`, with TCP `tcpPort` as fallback and the
   * history channel. Policy numbers (heartbeats, reconnects, retention) are the
   * core `tick` section's.
   */
  stream: z
    .strictObject({
      host: z.string().min(1),
      udpPort: z.number().int().min(1).max(65535),
      tcpPort: z.number().int().min(1).max(65535),
      /** Stream name sent in `hello` (default: the instance id). */
      streamId: z.string().min(1).max(64).optional(),
      history: z
        .strictObject({
          /**
           * DuckDB file of the tick history, relative to dataDir (default `<instanceId>.ticks.duckdb`): its own
           * file, written by a worker thread, never the order store's (a DuckDB instance is per thread).
           */
          file: z.string().min(1).optional(),
          /** DuckDB table of the tick history, in that file. */
          table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a SQL identifier').default('stream_ticks'),
          /** Largest history answer, in ticks. */
          maxTicks: z.number().int().min(1).max(10_000_000).default(100_000),
        })
        .prefault({}),
    })
    .optional(),
  notifier: NotifierSpecSchema.default({ kind: 'log' }),
  strategy: z
    .strictObject({
      enabled: z.boolean().default(false),
      symbols: z.array(z.string().min(1)).min(1).default(['EURUSD']),
      ordersPerSecond: z.number().positive().max(10_000).default(2),
      /** Lots per order; default: the symbol's volume_min. */
      volume: z.number().positive().optional(),
      /** Stop after this many orders (0 = no limit). */
      maxOrders: z.number().int().nonnegative().default(0),
      deviation: z.number().int().nonnegative().default(20),
    })
    .prefault({}),
  /** Periodic reconciliation with the broker (scaled by timeScale). */
  reconcileIntervalMs: ms(1000),
  /** RIS heartbeat period (scaled). */
  heartbeatMs: ms(1000),
  /** Gap between the two broker look-ups that prove an unknown order absent (scaled). */
  unknownGraceMs: ms(500),
  /** PRICE class: re-price and resend at most this many times before backing off. */
  maxRequotes: z.number().int().nonnegative().default(3),
});

export const RuntimeConfigSchema = ConfigSchema.extend({ runtime: RuntimeSectionSchema });
export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;
export type RuntimeConfigInput = z.input<typeof RuntimeConfigSchema>;

export function parseRuntimeConfig(doc: unknown, source: string): RuntimeConfig {
  const input = doc ?? {};
  const r = RuntimeConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const issues = zodIssues(r.error, input);
  throw new ConfigError(formatIssues(source, issues), issues, { source, cause: r.error });
}

/** Policy durations with timeScale applied, core and runtime alike. */
export function effectiveConfig(c: RuntimeConfig): RuntimeConfig {
  const core = applyTimeScale(c) as RuntimeConfig;
  const f = c.timeScale;
  const s = (v: number) => (f === 1 ? v : Math.max(1, Math.round(v * f)));
  core.runtime = {
    ...c.runtime,
    reconcileIntervalMs: s(c.runtime.reconcileIntervalMs),
    heartbeatMs: s(c.runtime.heartbeatMs),
    unknownGraceMs: s(c.runtime.unknownGraceMs),
  };
  return core;
}

export function lastGoodPath(file: string): string {
  return `${file}.last-good`;
}

export interface LoadedRuntimeConfig {
  config: RuntimeConfig;
  /** Set when the file was broken and the last-good copy was put back. */
  restored?: { error: string; field?: string; brokenCopy: string };
}

function parseFile(file: string): RuntimeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: file, cause: e });
  }
  return parseRuntimeConfig(parseDocumentText(text, file), file);
}

/**
 * Load and validate the config. A valid file becomes the new last-good copy.
 * A corrupted or invalid file is kept aside as `<file>.corrupt-<ms>` and the
 * last-good copy is written back in its place; without a last-good copy the
 * ConfigError (naming the field) is thrown: never start on defaults.
 */
export function loadRuntimeConfig(file: string, nowMs: number): LoadedRuntimeConfig {
  const good = lastGoodPath(file);
  try {
    const config = parseFile(file);
    const text = readFileSync(file, 'utf8');
    if (!existsSync(good) || readFileSync(good, 'utf8') !== text) {
      writeFileSync(`${good}.tmp`, text);
      renameSync(`${good}.tmp`, good);
    }
    return { config };
  } catch (e) {
    if (!(e instanceof ConfigError) || !existsSync(good)) throw e;
    const config = parseFile(good); // a broken last-good copy throws too: nothing safe to start on
    const brokenCopy = `${file}.corrupt-${nowMs}`;
    if (existsSync(file)) copyFileSync(file, brokenCopy);
    copyFileSync(good, file);
    return { config, restored: { error: e.message, field: e.issues[0]?.path, brokenCopy } };
  }
}
