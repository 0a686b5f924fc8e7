import { dirname } from 'node:path';
import { platform, release, cpus } from 'node:os';
import type { RuntimeEvent } from '../core/events.ts';
import { intentsFromEvents, parseHistory, type RunHistory, type StreamTickKey } from './history/index.ts';
import { toTickRecords, type TickLike } from './history/derive.ts';
import type { ResolvedSchedule } from './scenario/index.ts';
import { waitFor } from '../core/wait.ts';
import { clickhouseOrders, clickhouseTicks, duckdbOrders, readDuckDB, redisOrders } from './stores.ts';
import type { Testbed } from './testbed/testbed.ts';
import { tickHistoryPath } from '../runtime/stream/history-thread.ts';

export interface CollectOptions {
  runId: string;
  scenario: string;
  repeat: number;
  schedule: ResolvedSchedule;
  startedAt: number;
}

/**
 * Read everything the checkers and the measurement need out of a live testbed
 * into one history document. Whatever cannot be read is recorded as null, so
 * the checkers that need it answer "unknown".
 */
/**
 * Stop the workload and let the system settle, so the end state is one state:
 * the strategy trades from quotes, so cutting the `feed` route stops new orders
 * without touching the runtime. Then wait until no order is in flight and, one
 * sync deadline after the last order change, until the stores have caught up.
 */
export async function quiesce(bed: Testbed, syncDeadlineMs = Math.max(1, Math.round(bed.config.trade.maxClickhouseSyncDelayMs * bed.config.timeScale))): Promise<void> {
  if (bed.routes.feed) await bed.faults.setEnabled('feed', false).catch(() => {});
  const n = bed.supervisor?.status().length ?? 0;
  const lastChange = () => bed.events().reduce((m, e) => (e.type === 'order.state' && e.ts > m ? e.ts : m), 0);
  const inFlight = async () => {
    for (let i = 0; i < n; i++) {
      const st = await bed.getJson<{ counts?: Record<string, number>; components?: { clickhouse?: { pending?: number; parkedBatches?: number }; redis?: { backlog?: number } } }>(`${bed.runtimeUrl(i)}/state?orders=0`);
      const open = Object.entries(st.counts ?? {}).filter(([k]) => !['filled', 'partially_filled', 'rejected', 'reconciled', 'failed'].includes(k));
      if (open.some(([, v]) => v > 0)) return true;
      const ch = st.components?.clickhouse;
      if ((ch?.pending ?? 0) > 0 || (ch?.parkedBatches ?? 0) > 0 || (st.components?.redis?.backlog ?? 0) > 0) return true;
    }
    return false;
  };
  const budget = 15_000 + syncDeadlineMs;
  await waitFor(async () => ((await inFlight()) ? undefined : true), { what: 'orders and store syncs to settle', timeoutMs: budget, intervalMs: 100 }).catch(() => undefined);
  const until = lastChange() + syncDeadlineMs + 50;
  if (until > Date.now()) await new Promise((r) => setTimeout(r, Math.min(until - Date.now(), budget)));
}

/**
 * Let the consumer fill its gaps from the runtime's history while the runtime
 * still runs (the feed is already cut by quiesce, so nothing new arrives).
 */
async function settleConsumer(bed: Testbed, timeoutMs = 10_000): Promise<void> {
  const c = bed.consumer;
  if (!c) return;
  await waitFor(() => (c.missingCount() === 0 ? true : undefined), { what: 'the tick consumer to fill its gaps', timeoutMs, intervalMs: 20 }).catch(() => undefined);
}

/**
 * What the runtime's streamer published: every tick goes into its DuckDB history
 * (`<dataDir>/<id>.ticks.duckdb`, written by its history worker) before it is sent, so the file
 * (read once the runtime has let go of it) is the sender's own record, across restarts and
 * epochs. Each tick as the feed identified it (the key the consumer's record has) and as the
 * runtime's stream numbered it (the key ClickHouse has); null without a readable history.
 */
export function streamedTicks(file: string, table = 'stream_ticks'): Promise<{ feed: TickLike[]; stream: StreamTickKey[] } | null> {
  return readDuckDB(file, async (conn) => {
    const exists = await conn.runAndReadAll(`SELECT count(*) FROM information_schema.tables WHERE table_name = '${table}'`);
    if (Number(exists.getRowsJS()[0]?.[0] ?? 0) === 0) return null;
    const reader = await conn.runAndReadAll(`SELECT feed_stream, symbol, feed_epoch, feed_seq, time_msc, epoch, seq FROM ${table}`);
    const feed: TickLike[] = [];
    const stream: StreamTickKey[] = [];
    for (const r of reader.getRowsJS()) {
      const t: TickLike = { symbol: String(r[1]), time_msc: Number(r[4] as bigint) };
      if (r[0] !== null) t.stream = String(r[0]);
      if (Number(r[2] as bigint) >= 0) t.epoch = Number(r[2] as bigint);
      if (Number(r[3] as bigint) >= 0) t.seq = Number(r[3] as bigint);
      feed.push(t);
      stream.push({ epoch: Number(r[5] as bigint), seq: Number(r[6] as bigint) });
    }
    return { feed, stream };
  });
}

/** The testbed's collected events as the history records them: the emitting source becomes the instance. */
function historyEvents(bed: Testbed): RuntimeEvent[] {
  return bed.events().map(({ source, pid, receivedAt, ...e }) => ({ ...e, instance: e.instance ?? source })) as RuntimeEvent[];
}

/** The part of a history that says how orders ended: what the order checkers read. */
export type Outcomes = Pick<RunHistory, 'magic' | 'ledger' | 'orders' | 'positions'>;

/**
 * Read the runtimes' final order states and positions, then the broker's ledger,
 * from a live testbed without stopping anything. Steps judge "no order lost" with
 * the same pure checkers the report uses, over this. Whatever cannot be read is
 * null, so those checkers answer "unknown".
 */
export async function readOutcomes(bed: Testbed): Promise<Outcomes> {
  const n = bed.supervisor?.status().length ?? 0;
  const finals: { clientId: string; state: string; instance?: string }[] = [];
  const positions: { ticket: number; status?: string; orphan?: boolean; instance?: string }[] = [];
  let runtimesRead = true;
  // Runtimes before the ledger: a fill a runtime reports is already in the ledger.
  for (let i = 0; i < n; i++) {
    try {
      const st = await bed.getJson<{ instance: string; orders: { clientId: string; state: string }[]; positions: { ticket?: number; status?: string; orphan?: boolean }[] }>(`${bed.runtimeUrl(i)}/state?orders=1`);
      for (const ord of st.orders ?? []) finals.push({ clientId: ord.clientId, state: ord.state, instance: st.instance });
      for (const p of st.positions ?? []) if (typeof p.ticket === 'number') positions.push({ ticket: p.ticket, ...(p.status ? { status: p.status } : {}), ...(p.orphan !== undefined ? { orphan: p.orphan } : {}), instance: st.instance });
    } catch {
      runtimesRead = false;
    }
  }
  let ledger: RunHistory['ledger'] = null;
  try {
    ledger = await bed.getJson<NonNullable<RunHistory['ledger']>>(bed.brokerAdmin('/ledger'));
  } catch {
    ledger = null;
  }
  const events = historyEvents(bed);
  return {
    magic: Array.from({ length: n }, (_, i) => bed.magicFor(i)),
    ledger,
    orders: { intents: intentsFromEvents(events), final: runtimesRead ? finals : null },
    positions: runtimesRead ? positions : null,
  };
}

export async function collectHistory(bed: Testbed, o: CollectOptions): Promise<RunHistory> {
  const n = bed.supervisor?.status().length ?? 0;
  const instances = Array.from({ length: n }, (_, i) => `ea-${i}`);
  const syncDeadlineMs = Math.max(1, Math.round(bed.config.trade.maxClickhouseSyncDelayMs * bed.config.timeScale));
  await quiesce(bed, syncDeadlineMs).catch(() => {});
  const outcomes = await readOutcomes(bed);
  // Stores last: Redis and ClickHouse live, then DuckDB once the runtimes have let go of their files.
  const takenAt = Date.now();
  const [redis, clickhouse] = await Promise.all([
    redisOrders(bed.lab.info.sentinels, bed.lab.info.sentinelMasterName, instances),
    clickhouseOrders(bed.lab.info.clickhouse.url, bed.config.clickhouse.database, instances),
  ]);
  await settleConsumer(bed);
  await bed.supervisor?.stop().catch(() => {});
  const duckdb = await duckdbOrders(instances.map((i) => bed.duckdbFile(i)));
  let ticks: RunHistory['ticks'] = null;
  let tickStores: RunHistory['tickStores'] = null;
  if (bed.consumer && n > 0) {
    const file = tickHistoryPath(dirname(bed.duckdbFile('ea-0')), 'ea-0');
    const published = await streamedTicks(file);
    if (published) ticks = { emitted: toTickRecords(published.feed).records, received: toTickRecords(bed.consumer.record().ticks.map((r) => r.tick)).records };
    // After the stop: the runtime's last tick-sync cycle runs as it stops.
    tickStores = { instance: 'ea-0', history: published?.stream ?? null, clickhouse: await clickhouseTicks(bed.lab.info.clickhouse.url, bed.config.clickhouse.database, 'ea-0') };
  }
  const stores = { takenAt, syncDeadlineMs, redis, duckdb, clickhouse };
  const events = historyEvents(bed);
  const doc = {
    schema: 'ea-chaos/history@1',
    runId: o.runId,
    scenario: o.scenario,
    repeat: o.repeat,
    seed: bed.config.seed,
    timeScale: bed.config.timeScale,
    startedAt: o.startedAt,
    endedAt: Date.now(),
    schedule: o.schedule,
    faultLog: bed.faultLog.records.map((r) => ({
      id: r.id,
      kind: r.kind,
      target: r.target,
      injectedAt: Number.isFinite(r.injectedAt) ? r.injectedAt : null,
      healedAt: r.healedAt ?? null,
      ...(r.error ? { error: r.error } : {}),
      ...(r.params ? { params: r.params } : {}),
      ...(r.offsetMs !== undefined ? { offsetMs: r.offsetMs } : {}),
    })),
    events,
    magic: outcomes.magic,
    ledger: outcomes.ledger,
    orders: outcomes.orders,
    positions: outcomes.positions,
    ticks,
    tickStores,
    stores,
    versions: { ...bed.lab.info.versions, node: process.version },
    environment: { platform: platform(), release: release(), cpus: cpus().length, provider: bed.lab.info.provider },
  };
  return parseHistory(doc, `history of ${o.scenario}`);
}
