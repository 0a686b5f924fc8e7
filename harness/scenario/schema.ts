import { z } from 'zod';
import { TOXIC_ATTRIBUTES as PROXY_TOXIC_ATTRIBUTES } from '../../faultproxy/toxics.ts';
import { CHECK_NAMES, COMPONENT_IDS, SCENARIO_TAGS } from './vocabulary.ts';

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_EXPECTED = 'a duration: whole milliseconds (>= 0) or a string like "500ms", "2s", "1.5m", "1h"';

/** `"2s"` → 2000, `250` → 250; undefined for anything else. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = DURATION_RE.exec(v.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
  return Number.isFinite(ms) && Number.isInteger(Math.round(ms)) ? Math.round(ms) : undefined;
}

/** A duration field; the message is the same wherever it appears, so errors read alike. */
export const Duration = z.unknown().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED });
    return z.NEVER;
  }
  return ms;
});

const PositiveDuration = z.unknown().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `${DURATION_EXPECTED}, greater than 0` });
    return z.NEVER;
  }
  return ms;
});

const probability = z.number().min(0).max(1);

export const RepeatSchema = z.strictObject({
  count: z.number().int().min(1).max(10_000),
  every: PositiveDuration,
});

/** Fields every fault has; the kind-specific schemas below add their own. */
const common = {
  at: Duration,
  kind: z.string(),
  target: z.string(),
  repeat: RepeatSchema.optional(),
  /** Each instance lands up to this much later, drawn from the run's seed. */
  jitter: Duration.optional(),
  note: z.string().optional(),
  /**
   * Overrides the components measured for this fault (see faultEffect); `[]`
   * measures nothing, e.g. for a kill the supervisor is expected to give up on.
   */
  measure: z.array(z.enum(COMPONENT_IDS)).optional(),
  /** Overrides where recovery is measured from, e.g. `heal` when no failover is possible. */
  reference: z.enum(['injection', 'heal']).optional(),
};
const withDuration = { ...common, duration: PositiveDuration };
const optionalDuration = { ...common, duration: PositiveDuration.optional() };

/** Toxiproxy toxic attributes per type: the fault proxy's own table, so the two cannot drift. */
export const TOXIC_ATTRIBUTES: Record<string, readonly string[]> = PROXY_TOXIC_ATTRIBUTES;

const ToxicSchema = z
  .strictObject({
    type: z.enum(Object.keys(TOXIC_ATTRIBUTES) as [string, ...string[]]),
    name: z.string().min(1).optional(),
    attributes: z.record(z.string(), z.number().int().nonnegative()).default({}),
    toxicity: probability.default(1),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
  })
  .superRefine((t, ctx) => {
    const known = TOXIC_ATTRIBUTES[t.type] ?? [];
    for (const k of Object.keys(t.attributes)) {
      if (!known.includes(k)) {
        ctx.addIssue({ code: 'custom', path: ['attributes', k], message: `an attribute of a ${t.type} toxic: ${known.join(', ') || '(none)'}` });
      }
    }
  });

const ImpairSchema = z
  .strictObject({
    /** Drop every datagram (the relay's `down`). */
    blackhole: z.boolean().optional(),
    loss: probability.optional(),
    latency: z.number().int().nonnegative().optional(),
    jitter: z.number().int().nonnegative().optional(),
    duplicate: probability.optional(),
    reorder: probability.optional(),
    reorder_window: z.number().int().min(1).max(1000).optional(),
  })
  .refine((o) => Object.keys(o).length > 0, 'at least one of blackhole, loss, latency, jitter, duplicate, reorder, reorder_window');

/** Kind-specific fault schemas; `params` of a resolved fault is the kind's own object (toxic, impair, knobs, file). */
export const FAULT_SCHEMAS = {
  'process.kill': z.strictObject(optionalDuration),
  'process.pause': z.strictObject(withDuration),
  'process.stop': z.strictObject(withDuration),
  'network.toxic': z.strictObject({ ...withDuration, toxic: ToxicSchema }),
  'network.down': z.strictObject(withDuration),
  'udp.impair': z.strictObject({ ...withDuration, impair: ImpairSchema }),
  /** `knobs` are the simulator broker's fault knobs (docs/protocol.md), merged over none. */
  'broker.knob': z.strictObject({ ...withDuration, knobs: z.record(z.string(), z.unknown()) }),
  /** Another process takes the runtime's DuckDB file lock once it is free, and holds it for `duration`. */
  'file.lock': z.strictObject(withDuration),
  'file.corrupt': z.strictObject({
    ...common,
    file: z
      .strictObject({
        /**
         * garbage: overwrite bytes in the middle; truncate: cut the file in half; delete: remove it;
         * header: overwrite the first 4 KiB (a DuckDB file then never opens); mismatch (config only):
         * valid JSON that does not match the schema (a renamed field, a number as text).
         */
        mode: z.enum(['garbage', 'truncate', 'delete', 'header', 'mismatch']).default('garbage'),
        /** duckdb-db only: damage the 500 ms backup file the same way (seed §3.4 step 4). */
        withBackup: z.boolean().default(false),
        /** Restart the runtime afterwards so the file is read again (the only way corruption is noticed). */
        restart: z.boolean().default(true),
      })
      .prefault({}),
  }),
} as const;

export const WorkloadSchema = z
  .strictObject({
    /** Runtime instances under the supervisor. */
    runtimes: z.number().int().min(1).max(16).default(1),
    /** Strategy order intents per second per runtime (0: no orders). */
    ordersPerSecond: z.number().min(0).max(1000).default(2),
    symbols: z.array(z.string().min(1)).min(1).default(['EURUSD']),
    /** How long the workload runs at full time scale; at least until the last fault is healed. */
    duration: Duration.default(10_000),
    /** Quiet time after the workload before the checkers read the stores. */
    settle: Duration.default(2000),
    /** Give runtimes the `broker-backup` route as a backup access point (runtime.brokerFailover). */
    brokerBackup: z.boolean().default(false),
  })
  .prefault({});

/** The document minus its faults, which are validated one by one for precise paths. */
export const ScenarioHeadSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a lower-case slug like "redis-master-kill"'),
  description: z.string().min(1),
  tags: z.array(z.enum(SCENARIO_TAGS)).min(1),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  timeScale: z.number().positive().max(100).optional(),
  workload: WorkloadSchema,
  /** Invariant checkers to run; all of them when absent. */
  checks: z.array(z.enum(CHECK_NAMES)).min(1).optional(),
  faults: z.array(z.unknown()),
});
