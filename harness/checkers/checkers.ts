import type { RunHistory, StoreOrder, StreamTickKey, TickRecord } from '../history/schema.ts';
import type { CheckName } from '../scenario/vocabulary.ts';

/**
 * Jepsen-style checkers: pure functions over one recorded history. A checker
 * that lacks the data to decide answers `unknown`, never `pass`.
 */
export type CheckStatus = 'pass' | 'fail' | 'unknown';

export interface CheckResult {
  name: CheckName;
  status: CheckStatus;
  details: string;
  /** At most MAX_COUNTEREXAMPLES concrete witnesses of a failure. */
  counterexamples: unknown[];
}

export const MAX_COUNTEREXAMPLES = 20;

/** Order states from which the runtime owes nothing more (runtime/order-state.ts TERMINAL_STATES). */
export const TERMINAL_STATES = new Set(['filled', 'partially_filled', 'rejected', 'reconciled', 'failed']);
const FILLED_STATES = new Set(['filled', 'partially_filled', 'reconciled']);

const result = (name: CheckName, status: CheckStatus, details: string, counterexamples: unknown[] = []): CheckResult => ({
  name,
  status,
  details,
  counterexamples: counterexamples.slice(0, MAX_COUNTEREXAMPLES),
});

/** What the order checkers read; a whole history is one, and so is what a step reads live. */
export type OrderOutcomes = Pick<RunHistory, 'magic' | 'ledger' | 'orders' | 'positions'>;

function ourDeals(h: Pick<RunHistory, 'magic' | 'ledger'>) {
  const magic = new Set(h.magic);
  return (h.ledger?.deals ?? []).filter((d) => magic.size === 0 || magic.has(d.magic));
}

/**
 * No order lost: every accepted intent ends in a terminal state or has a deal at
 * the broker; and no order the runtime calls filled lacks its deal.
 */
export function checkOrdersLost(h: OrderOutcomes): CheckResult {
  const name = 'orders-lost' as const;
  if (!h.orders) return result(name, 'unknown', 'order intents were not recorded');
  if (!h.ledger) return result(name, 'unknown', 'the broker ledger was not captured');
  if (h.orders.final === null) return result(name, 'unknown', "the runtimes' final order states were not captured");
  const deals = new Set(ourDeals(h).map((d) => d.comment));
  const final = new Map(h.orders.final.map((o) => [o.clientId, o.state]));
  const bad: unknown[] = [];
  for (const i of h.orders.intents) {
    const state = final.get(i.clientId);
    const hasDeal = deals.has(i.clientId);
    if (!hasDeal && (state === undefined || !TERMINAL_STATES.has(state))) {
      bad.push({ clientId: i.clientId, acceptedAt: i.acceptedAt, state: state ?? null, problem: 'no terminal outcome and no deal at the broker' });
    } else if (!hasDeal && state !== undefined && FILLED_STATES.has(state)) {
      bad.push({ clientId: i.clientId, acceptedAt: i.acceptedAt, state, problem: 'the runtime reports a fill the broker has no deal for' });
    }
  }
  const n = h.orders.intents.length;
  if (bad.length > 0) return result(name, 'fail', `${bad.length} of ${n} accepted orders lost`, bad);
  return result(name, 'pass', `all ${n} accepted orders reached an outcome`);
}

/** No order duplicated: at most one deal per client order id (the MT5 comment) in the broker ledger. */
export function checkOrdersDuplicated(h: OrderOutcomes): CheckResult {
  const name = 'orders-duplicated' as const;
  if (!h.ledger) return result(name, 'unknown', 'the broker ledger was not captured');
  const by = new Map<string, number[]>();
  for (const d of ourDeals(h)) {
    if (!d.comment) continue;
    by.set(d.comment, [...(by.get(d.comment) ?? []), d.ticket]);
  }
  const dups = [...by.entries()].filter(([, t]) => t.length > 1).map(([clientId, deals]) => ({ clientId, deals }));
  if (dups.length > 0) return result(name, 'fail', `${dups.length} client order ids have more than one deal`, dups);
  return result(name, 'pass', `${by.size} client order ids, one deal each`);
}

/** No orphaned trade: every open broker position with our magic is known to a runtime at the end. */
export function checkOrphanedPositions(h: OrderOutcomes): CheckResult {
  const name = 'orphaned-positions' as const;
  if (!h.ledger) return result(name, 'unknown', 'the broker ledger was not captured');
  if (h.positions === null) return result(name, 'unknown', "the runtimes' positions were not captured");
  if (h.magic.length === 0) return result(name, 'unknown', 'our magic numbers were not recorded, so our positions cannot be told apart');
  const magic = new Set(h.magic);
  const known = new Set(h.positions.filter((p) => p.status !== 'closed').map((p) => p.ticket));
  const open = h.ledger.positions.filter((p) => magic.has(p.magic));
  const orphans = open.filter((p) => !known.has(p.ticket)).map((p) => ({ ticket: p.ticket, magic: p.magic, symbol: p.symbol, volume: p.volume, comment: p.comment }));
  if (orphans.length > 0) return result(name, 'fail', `${orphans.length} of ${open.length} open positions are unknown to the runtime`, orphans);
  return result(name, 'pass', `all ${open.length} open positions are known to the runtime`);
}

const DAY_MS = 24 * 3600_000;

/**
 * No tick lost after gap fill: the feed's emitted (stream, epoch, seq) set minus
 * what the consumer ended up with, for ticks within 24 h of the feed's latest
 * tick (seed §2.2: older history may be lost).
 */
export function checkTickGaps(h: RunHistory, retentionMs = DAY_MS): CheckResult {
  const name = 'tick-gaps' as const;
  if (!h.ticks) return result(name, 'unknown', 'tick records were not captured');
  if (h.ticks.emitted.length === 0) return result(name, 'unknown', 'the feed emitted no ticks, so loss cannot be judged');
  const key = (t: TickRecord) => `${t.stream}\u0000${t.epoch}\u0000${t.seq}`;
  const got = new Set(h.ticks.received.map(key));
  // Anchored on the feed's own clock (its latest tick), which need not be the wall clock.
  const latest = h.ticks.emitted.reduce((m, t) => (t.timeMs > m ? t.timeMs : m), -Infinity);
  const from = latest - retentionMs;
  const missing: TickRecord[] = [];
  let checked = 0;
  for (const t of h.ticks.emitted) {
    if (t.timeMs < from) continue;
    checked++;
    if (!got.has(key(t))) missing.push(t);
  }
  if (missing.length === 0) return result(name, 'pass', `all ${checked} ticks of the last 24 h were received`);
  return result(name, 'fail', `${missing.length} of ${checked} ticks never reached the consumer`, gapRanges(missing));
}

/** Missing ticks as runs `{stream, epoch, fromSeq, toSeq, count}`: readable counterexamples. */
export function gapRanges(missing: readonly TickRecord[]): { stream: string; epoch: number; fromSeq: number; toSeq: number; count: number }[] {
  const sorted = [...missing].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.epoch - b.epoch || a.seq - b.seq));
  const out: { stream: string; epoch: number; fromSeq: number; toSeq: number; count: number }[] = [];
  for (const t of sorted) {
    const last = out[out.length - 1];
    if (last && last.stream === t.stream && last.epoch === t.epoch && last.toSeq + 1 === t.seq) {
      last.toSeq = t.seq;
      last.count++;
    } else out.push({ stream: t.stream, epoch: t.epoch, fromSeq: t.seq, toSeq: t.seq, count: 1 });
  }
  return out;
}

/**
 * Redis, DuckDB and ClickHouse hold the same orders in the same states once the
 * sync deadline after the last order change has passed.
 */
export function checkCrossStore(h: RunHistory): CheckResult {
  const name = 'cross-store-consistency' as const;
  const st = h.stores;
  if (!st) return result(name, 'unknown', 'store snapshots were not captured');
  const missing = (['redis', 'duckdb', 'clickhouse'] as const).filter((k) => st[k] === null);
  if (missing.length > 0) return result(name, 'unknown', `no snapshot of ${missing.join(', ')}`);
  const lastChange = h.events.reduce((m, e) => (e.type === 'order.state' && e.ts > m ? e.ts : m), -Infinity);
  if (Number.isFinite(lastChange) && st.takenAt < lastChange + st.syncDeadlineMs) {
    return result(name, 'unknown', `snapshots taken ${st.takenAt - lastChange} ms after the last order change, before the ${st.syncDeadlineMs} ms sync deadline`);
  }
  const stores = { redis: st.redis!, duckdb: st.duckdb!, clickhouse: st.clickhouse! };
  const maps = Object.fromEntries(Object.entries(stores).map(([k, rows]) => [k, new Map(rows.map((r) => [r.clientId, r]))])) as Record<keyof typeof stores, Map<string, StoreOrder>>;
  const ids = new Set(Object.values(stores).flatMap((rows) => rows.map((r) => r.clientId)));
  const bad: unknown[] = [];
  for (const id of [...ids].sort()) {
    const states = { redis: maps.redis.get(id)?.state ?? null, duckdb: maps.duckdb.get(id)?.state ?? null, clickhouse: maps.clickhouse.get(id)?.state ?? null };
    const distinct = new Set(Object.values(states));
    if (distinct.size > 1) bad.push({ clientId: id, ...states });
  }
  if (bad.length > 0) return result(name, 'fail', `${bad.length} of ${ids.size} orders differ between Redis, DuckDB and ClickHouse`, bad);
  return result(name, 'pass', `${ids.size} orders agree across Redis, DuckDB and ClickHouse`);
}

/**
 * ClickHouse holds exactly the ticks the EA's DuckDB history holds (seed §3.5: ticks are synced,
 * 24 h): every (epoch, seq) of the history, read with FINAL so a batch resent after a lost answer
 * counts once, and nothing the history does not have for those epochs. Read after the runtime
 * stopped, so its last sync cycle is in.
 */
export function checkTickStores(h: RunHistory): CheckResult {
  const name = 'tick-store-consistency' as const;
  const ts = h.tickStores;
  if (!ts) return result(name, 'unknown', 'tick stores were not captured');
  if (!ts.history || !ts.clickhouse) return result(name, 'unknown', `no snapshot of ${[!ts.history && 'the tick history', !ts.clickhouse && 'ClickHouse'].filter(Boolean).join(' or ')}`);
  if (ts.history.length === 0) return result(name, 'unknown', 'the EA published no ticks');
  const key = (t: StreamTickKey) => `${t.epoch}:${t.seq}`;
  const inCh = new Set(ts.clickhouse.map(key));
  const inHistory = new Set(ts.history.map(key));
  const epochs = new Set(ts.history.map((t) => t.epoch));
  const asRecord = (t: StreamTickKey): TickRecord => ({ stream: ts.instance, epoch: t.epoch, seq: t.seq, timeMs: 0 });
  const missing = ts.history.filter((t) => !inCh.has(key(t)));
  const extra = ts.clickhouse.filter((t) => epochs.has(t.epoch) && !inHistory.has(key(t)));
  if (missing.length === 0 && extra.length === 0) return result(name, 'pass', `ClickHouse holds all ${inHistory.size} ticks of ${ts.instance}'s history, each once`);
  const parts = [missing.length > 0 && `${missing.length} of ${inHistory.size} ticks of ${ts.instance}'s history are not in ClickHouse`, extra.length > 0 && `${extra.length} ticks in ClickHouse are not in the history`];
  return result(name, 'fail', parts.filter(Boolean).join('; '), [
    ...gapRanges(missing.map(asRecord)).map((r) => ({ missingFromClickhouse: r })),
    ...gapRanges(extra.map(asRecord)).map((r) => ({ notInHistory: r })),
  ]);
}

export const CHECKERS: Record<CheckName, (h: RunHistory) => CheckResult> = {
  'orders-lost': checkOrdersLost,
  'orders-duplicated': checkOrdersDuplicated,
  'orphaned-positions': checkOrphanedPositions,
  'tick-gaps': (h) => checkTickGaps(h),
  'cross-store-consistency': checkCrossStore,
  'tick-store-consistency': checkTickStores,
};

/** Run the named checkers (all by default) over one history. A checker that throws answers `unknown`. */
export function runCheckers(h: RunHistory, names: readonly CheckName[] = Object.keys(CHECKERS) as CheckName[]): CheckResult[] {
  return names.map((n) => {
    try {
      return CHECKERS[n](h);
    } catch (e) {
      return result(n, 'unknown', `the checker failed: ${(e as Error).message}`);
    }
  });
}
