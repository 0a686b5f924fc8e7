import { z } from 'zod';
import { ResolvedScheduleSchema } from '../scenario/resolve.ts';

/**
 * One scenario run, as recorded: everything the measurement and the checkers
 * read, and nothing they have to ask a live service for. `ea-chaos run`
 * writes one per scenario (and repeat) to `reports/runs/<run-id>/histories/`;
 * `replay` reads its `schedule`. Optional parts are `null` when they were not
 * collected, and the checkers that need them answer "unknown".
 */

const wallMs = z.number().finite();

export const RuntimeEventSchema = z.looseObject({
  seq: z.number().int(),
  ts: wallMs,
  component: z.string(),
  type: z.string(),
  instance: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** What the harness did and when (wall ms), per resolved fault instance. */
export const FaultLogEntrySchema = z.strictObject({
  id: z.string(),
  kind: z.string(),
  target: z.string(),
  /** null: the injection failed or never happened (the run ended first). */
  injectedAt: wallMs.nullable(),
  /** null (or absent): no heal step, or it never happened. */
  healedAt: wallMs.nullable().default(null),
  error: z.string().optional(),
  /** Fields harness/testbed/fault-log.ts FaultRecord also carries. */
  params: z.record(z.string(), z.unknown()).optional(),
  offsetMs: z.number().optional(),
});
export type FaultLogEntry = z.infer<typeof FaultLogEntrySchema>;

/** The broker's ledger (`GET /ledger` of the simulator's admin API), only the fields the checkers read are required. */
export const LedgerDealSchema = z.looseObject({
  ticket: z.number(),
  order: z.number().optional(),
  time_msc: z.number().optional(),
  entry: z.number().optional(),
  magic: z.number(),
  position_id: z.number().optional(),
  volume: z.number().optional(),
  symbol: z.string().optional(),
  comment: z.string(),
});
export const LedgerPositionSchema = z.looseObject({
  ticket: z.number(),
  magic: z.number(),
  symbol: z.string().optional(),
  volume: z.number().optional(),
  comment: z.string().optional(),
});
export const LedgerSchema = z.looseObject({
  requests: z.array(z.unknown()).optional(),
  orders: z.array(z.unknown()).optional(),
  deals: z.array(LedgerDealSchema),
  positions: z.array(LedgerPositionSchema),
});
export type Ledger = z.infer<typeof LedgerSchema>;

/** An order the runtime accepted (`order.state` → `intent` that passed validation). */
export const OrderIntentSchema = z.strictObject({
  clientId: z.string().min(1),
  acceptedAt: wallMs,
  instance: z.string().optional(),
  magic: z.number().optional(),
  symbol: z.string().optional(),
  side: z.enum(['buy', 'sell']).optional(),
  volume: z.number().optional(),
});
export type OrderIntent = z.infer<typeof OrderIntentSchema>;

/** The runtime's own view of an order at the end (runtime/order-state.ts states). */
export const OrderOutcomeSchema = z.strictObject({
  clientId: z.string().min(1),
  state: z.string(),
  instance: z.string().optional(),
});

/** A position the runtime knows about at the end (runtime/store/rows.ts PositionRecord, trimmed). */
export const KnownPositionSchema = z.strictObject({
  ticket: z.number(),
  status: z.string().optional(),
  orphan: z.boolean().optional(),
  instance: z.string().optional(),
});

/** One tick identity: stream (symbol), feed epoch, sequence within the epoch, and its time. */
export const TickRecordSchema = z.strictObject({
  stream: z.string(),
  epoch: z.number().int(),
  seq: z.number().int(),
  timeMs: wallMs,
});
export type TickRecord = z.infer<typeof TickRecordSchema>;

/** A tick as the EA's own stream numbers it (runtime stream epoch and seq, not the feed's). */
export const StreamTickKeySchema = z.strictObject({ epoch: z.number().int(), seq: z.number().int() });
export type StreamTickKey = z.infer<typeof StreamTickKeySchema>;

/** The ticks one EA instance published, as its DuckDB tick history and ClickHouse hold them; null where unread. */
export const TickStoresSchema = z.strictObject({
  instance: z.string(),
  history: z.array(StreamTickKeySchema).nullable(),
  clickhouse: z.array(StreamTickKeySchema).nullable(),
});
export type TickStores = z.infer<typeof TickStoresSchema>;

/** An order row as one store holds it (runtime/store/rows.ts OrderRow without its data blob). */
export const StoreOrderSchema = z.strictObject({
  clientId: z.string(),
  state: z.string(),
  rev: z.number().int().optional(),
});
export type StoreOrder = z.infer<typeof StoreOrderSchema>;

export const StoreSnapshotsSchema = z.strictObject({
  /** When the snapshots were read (wall ms). */
  takenAt: wallMs,
  /** How long after the last order change the three stores must agree: trade.maxClickhouseSyncDelayMs, scaled. */
  syncDeadlineMs: z.number().nonnegative(),
  redis: z.array(StoreOrderSchema).nullable(),
  duckdb: z.array(StoreOrderSchema).nullable(),
  clickhouse: z.array(StoreOrderSchema).nullable(),
});
export type StoreSnapshots = z.infer<typeof StoreSnapshotsSchema>;

export const RunHistorySchema = z.strictObject({
  schema: z.literal('ea-chaos/history@1'),
  runId: z.string().min(1),
  scenario: z.string().min(1),
  /** 0-based repeat index under `--repeat N`. */
  repeat: z.number().int().nonnegative().default(0),
  seed: z.number().int().nonnegative(),
  timeScale: z.number().positive(),
  /** Wall ms of the scenario's time 0 (fault offsets count from here) and of its end. */
  startedAt: wallMs,
  endedAt: wallMs,
  schedule: ResolvedScheduleSchema,
  faultLog: z.array(FaultLogEntrySchema),
  events: z.array(RuntimeEventSchema),
  /** Magic numbers of our EA instances; positions with other magics are not ours. */
  magic: z.array(z.number()).default([]),
  ledger: LedgerSchema.nullable(),
  orders: z
    .strictObject({
      intents: z.array(OrderIntentSchema),
      /** null when the runtimes' final order states could not be read. */
      final: z.array(OrderOutcomeSchema).nullable(),
    })
    .nullable(),
  /** Positions the runtimes know at the end; null when not collected. */
  positions: z.array(KnownPositionSchema).nullable(),
  /** Feed emitted vs consumer received (after gap fill), by stream/epoch/seq. */
  ticks: z.strictObject({ emitted: z.array(TickRecordSchema), received: z.array(TickRecordSchema) }).nullable(),
  stores: StoreSnapshotsSchema.nullable(),
  /** Streamed ticks in the EA's history file and in ClickHouse (absent in histories older than the field). */
  tickStores: TickStoresSchema.nullable().default(null),
  /** Service name → version string (LabInfo.versions plus our own). */
  versions: z.record(z.string(), z.string()).default({}),
  environment: z.record(z.string(), z.unknown()).default({}),
});
export type RunHistory = z.infer<typeof RunHistorySchema>;
export type RunHistoryInput = z.input<typeof RunHistorySchema>;
