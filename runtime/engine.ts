import { setMaxListeners } from 'node:events';
import type { Clock } from '../core/clock.ts';
import type { EventBus, Notifier } from '../core/events.ts';
import type { Logger } from '../core/log.ts';
import type { MqlTradeRequest, MqlTradeResult, SymbolInfo, TradeDeal } from '../simulator/protocol/types.ts';
import { BrokerConnectionError, BrokerProtocolError, BrokerTimeoutError, type BrokerPort } from './broker.ts';
import { ClientIdGenerator } from './client-id.ts';
import { applyEvent, isTerminal, newOrder, type OrderEvent, type OrderRecord, type Side } from './order-state.ts';
import { retry, RetriesExhaustedError, waitOrWake } from './policy.ts';
import { classifyRetcode, RETCODE } from './retcodes.ts';
import type { WriteHint } from './store/duckdb.ts';
import { dealRow, orderRow, positionRow, type DealRecord, type DealRow, type FailedSync, type OrderRow, type PositionRecord, type PositionRow } from './store/rows.ts';

/** What the engine needs from its durable store (DuckStore implements it). */
export interface TradeStore {
  loadOrders(): Promise<OrderRow[]>;
  loadDeals(): Promise<DealRow[]>;
  loadPositions(): Promise<PositionRow[]>;
  maxRev(): Promise<number>;
  /** Resolves once `r` is durable. The hint only says how it may be batched (see WriteHint). */
  putOrder(r: OrderRow, hint?: WriteHint): Promise<void>;
  putDeal(r: DealRow, hint?: WriteHint): Promise<void>;
  putPosition(r: PositionRow, hint?: WriteHint): Promise<void>;
  putFailedSync(r: FailedSync): Promise<void>;
  deleteFailedSync(id: string): Promise<void>;
  /** Parked rows at start-up, so an order resumes its failed_syncs rounds instead of restarting its backoff. */
  loadFailedSyncs?(kind?: FailedSync['kind']): Promise<FailedSync[]>;
}

/** What an order's failed_syncs row carries besides its attempt count: when its next round is due. */
interface ParkedOrder {
  symbol: string;
  nextDueAt: number;
}

function parkedPayload(payload: string): Partial<ParkedOrder> {
  try {
    const p = JSON.parse(payload) as Partial<ParkedOrder>;
    return typeof p === 'object' && p !== null ? p : {};
  } catch {
    return {}; // rows written before the due time was stored held the bare symbol
  }
}

/**
 * The order engine: drives each order through the state machine of
 * order-state.ts against the broker, with the retry policy of its retcode
 * class (seed §3.1, mt5-trading.md §1.5):
 *   price   → re-price from the answer's bid/ask and resend, up to 3 times;
 *   backoff → 1, 2, 4, 8, 16 s (scaled), woken at once when the broker probe
 *             sees the broker back; after 5 failures the order is parked in
 *             `failed_syncs` and retried every 30 s up to 5 times;
 *   unknown → never resent: the broker's deals are queried by comment+magic;
 *   fatal   → rejected, and the user is notified at once.
 * Every intent is committed to DuckDB before it is sent. Outcomes are written
 * without waiting for that commit: if the process dies first, the order is
 * found `persisted` at restart and resolved from the broker's records.
 */

/** Something that wants every stored change (Redis RTS, ClickHouse sync). */
export interface StateMirror {
  putOrder(r: OrderRow): void;
  putDeal?(r: DealRow): void;
  putPosition(r: PositionRow): void;
}

export interface EngineOptions {
  clock: Clock;
  events: EventBus;
  log: Logger;
  notifier: Notifier;
  broker: BrokerPort;
  duck: TradeStore;
  mirrors: StateMirror[];
  instanceId: string;
  magic: number;
  backoffMs: readonly number[];
  maxAttempts: number;
  failedSyncRetryMs: number;
  failedSyncMaxAttempts: number;
  orderTimeoutMs: number;
  /** Wait between the two broker look-ups that prove an unknown order absent. */
  unknownGraceMs: number;
  maxRequotes: number;
  /** Latest quote from the feed, if any. */
  quote?: (symbol: string) => { bid: number; ask: number } | undefined;
}

export interface OrderInput {
  symbol: string;
  side: Side;
  volume: number;
  price?: number | null;
  deviation?: number;
  sl?: number;
  tp?: number;
  origin?: OrderRecord['origin'];
}

class Transient extends Error {}

const LAZY: WriteHint = { lazy: true };
const FRESH: WriteHint = { fresh: true };

const EPS = 1e-9;
/** Time slices of a periodic reconciliation's deal query (see `dealsSince`): ~200 deals each at 1,000 orders/s. */
const DEAL_SLICE_MS = 200;
const DEAL_SLICES_MAX = 20;

function isMultiple(x: number, step: number): boolean {
  if (step <= 0) return true;
  const q = x / step;
  return Math.abs(q - Math.round(q)) < 1e-6;
}

export class OrderEngine {
  readonly orders = new Map<string, OrderRecord>();
  readonly deals = new Map<number, DealRecord>();
  readonly positions = new Map<number, PositionRecord>();
  private readonly specs = new Map<string, SymbolInfo>();
  private readonly driving = new Set<string>();
  /** Orders between intent and their first send: reconciliation leaves them alone. */
  private readonly submitting = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private rev = 0;
  private ids: ClientIdGenerator;
  private stopped = false;
  readonly abort = new AbortController();
  /** Intent → broker send latency samples (ms), for /state and the bench. */
  readonly sendLatency: number[] = [];
  /** Intent → committed to DuckDB latency samples (ms): the part of `sendLatency` spent on durability. */
  readonly durableLatency: number[] = [];

  constructor(private readonly o: EngineOptions) {
    this.ids = new ClientIdGenerator(o.instanceId, o.clock.now());
    // Every order waiting out a backoff listens on this one signal: thousands of listeners are expected.
    setMaxListeners(0, this.abort.signal);
  }

  // ---------- state ----------

  /** Load everything DuckDB holds (after its own recovery). */
  async load(): Promise<void> {
    const d = this.o.duck;
    for (const r of await d.loadOrders()) {
      this.orders.set(r.clientId, JSON.parse(r.data) as OrderRecord);
      this.rowRev.set(r.clientId, r.rev);
    }
    for (const r of await d.loadDeals()) this.deals.set(r.deal, JSON.parse(r.data) as DealRecord);
    for (const r of await d.loadPositions()) this.positions.set(r.ticket, JSON.parse(r.data) as PositionRecord);
    this.rev = await d.maxRev();
    for (const r of (await d.loadFailedSyncs?.('order')) ?? []) this.parkedAtLoad.set(r.ref, r);
  }
  /** failed_syncs rows found at start-up, by client id: consumed when the order is driven again. */
  private readonly parkedAtLoad = new Map<string, FailedSync>();

  /** Merge rows from another store (Redis, ClickHouse) that are newer than ours; returns how many. */
  async mergeOrders(rows: readonly OrderRow[]): Promise<number> {
    let n = 0;
    const writes: Promise<void>[] = [];
    for (const r of rows) {
      if (this.orders.has(r.clientId) && (this.rowRev.get(r.clientId) ?? -1) >= r.rev) continue;
      const rec = JSON.parse(r.data) as OrderRecord;
      this.orders.set(r.clientId, rec);
      this.rowRev.set(r.clientId, r.rev);
      this.rev = Math.max(this.rev, r.rev);
      writes.push(this.o.duck.putOrder(r));
      n++;
    }
    await Promise.all(writes);
    return n;
  }
  private readonly rowRev = new Map<string, number>();

  snapshot(): { orders: OrderRow[]; positions: PositionRow[] } {
    return {
      orders: [...this.orders.values()].map((o) => orderRow(o, this.rowRev.get(o.clientId) ?? this.rev)),
      positions: [...this.positions.values()].map((p) => positionRow(p, this.rev)),
    };
  }

  private nextRev(): number {
    return ++this.rev;
  }

  /**
   * Store an order change: DuckDB (awaited when `durable`), then the mirrors. A change nobody
   * awaits is written lazily: batched with others so it never holds the connection an intent
   * waits for. `fresh`: the first row of a new intent (a plain INSERT).
   */
  private save(o: OrderRecord, durable: boolean, fresh = false): Promise<void> {
    this.orders.set(o.clientId, o);
    const rev = this.nextRev();
    this.rowRev.set(o.clientId, rev);
    const row = orderRow(o, rev);
    const p = this.o.duck.putOrder(row, durable ? (fresh ? FRESH : undefined) : LAZY);
    for (const m of this.o.mirrors) m.putOrder(row);
    if (durable) return p;
    p.catch((e: unknown) => this.o.log.error({ err: (e as Error).message, clientId: o.clientId }, 'duckdb: order write failed'));
    return Promise.resolve();
  }

  private transition(o: OrderRecord, e: OrderEvent, durable: boolean): { o: OrderRecord; saved: Promise<void> } {
    const n = applyEvent(o, e, this.o.clock.now());
    // `submitted` lasts one broker round trip and is not stored: after a crash a `persisted` order is
    // already treated as possibly sent, so the row would add nothing but a write on the hot path.
    let saved: Promise<void>;
    if (e.type === 'send') {
      this.orders.set(n.clientId, n);
      saved = Promise.resolve();
    } else saved = this.save(n, durable, e.type === 'persist');
    if (n.state === o.state) return { o: n, saved };
    const emit = (): void => {
      this.o.events.emit('trade', 'order.state', {
        clientId: n.clientId,
        from: o.state,
        to: n.state,
        sends: n.sends,
        retcode: n.retcode,
        ...(n.error ? { error: n.error } : {}),
      });
    };
    // `persisted` is the runtime's promise that the order survives a crash, and the harness counts
    // it as acceptance: it is announced only once the commit is durable. A SIGKILL before that
    // loses an intent nobody was told about, which is allowed; after it, the order must survive.
    if (e.type === 'persist') return { o: n, saved: saved.then(emit) };
    emit();
    return { o: n, saved };
  }

  private saveDeal(d: DealRecord): void {
    if (this.deals.has(d.deal)) return;
    this.deals.set(d.deal, d);
    const row = dealRow(d, this.nextRev());
    this.o.duck.putDeal(row, LAZY).catch((e: unknown) => this.o.log.error({ err: (e as Error).message }, 'duckdb: deal write failed'));
    for (const m of this.o.mirrors) m.putDeal?.(row);
  }

  private savePosition(p: PositionRecord): void {
    this.positions.set(p.ticket, p);
    const row = positionRow(p, this.nextRev());
    this.o.duck.putPosition(row, LAZY).catch((e: unknown) => this.o.log.error({ err: (e as Error).message }, 'duckdb: position write failed'));
    for (const m of this.o.mirrors) m.putPosition(row);
  }

  // ---------- submit ----------

  /** Cached symbol spec (fetched on first order for the symbol). */
  cachedSpec(symbol: string): SymbolInfo | undefined {
    return this.specs.get(symbol);
  }

  async warmSpec(symbol: string): Promise<void> {
    await this.spec(symbol);
  }

  private async spec(symbol: string): Promise<SymbolInfo | undefined> {
    const have = this.specs.get(symbol);
    if (have) return have;
    try {
      const s = await this.o.broker.symbolInfo(symbol);
      this.specs.set(symbol, s);
      return s;
    } catch {
      return undefined;
    }
  }

  /** Local pre-check (MqlTradeCheckResult in spirit): invalid volume or price never reaches the broker. */
  private async validate(i: OrderInput): Promise<{ retcode: number; error: string } | undefined> {
    if (!(i.volume > 0) || !Number.isFinite(i.volume)) return { retcode: RETCODE.INVALID_VOLUME, error: `invalid volume ${i.volume}` };
    if (i.price != null && (!(i.price > 0) || !Number.isFinite(i.price))) return { retcode: RETCODE.INVALID_PRICE, error: `invalid price ${i.price}` };
    const s = await this.spec(i.symbol);
    if (!s) return undefined;
    if (i.volume < s.volume_min - EPS || i.volume > s.volume_max + EPS || !isMultiple(i.volume, s.volume_step)) {
      return { retcode: RETCODE.INVALID_VOLUME, error: `invalid volume ${i.volume} for ${i.symbol} (min ${s.volume_min}, max ${s.volume_max}, step ${s.volume_step})` };
    }
    if (i.price != null && !isMultiple(i.price, s.point)) {
      return { retcode: RETCODE.INVALID_PRICE, error: `invalid price ${i.price} for ${i.symbol} (${s.digits} digits)` };
    }
    return undefined;
  }

  /**
   * Submit an order. Resolves once the intent is durable and the first answer
   * (or the lack of one) is known; retries continue in the background.
   */
  async submit(input: OrderInput): Promise<OrderRecord> {
    if (this.stopped) throw new Error('engine stopped');
    const t0 = this.o.clock.monotonic();
    const clientId = this.ids.next();
    this.submitting.add(clientId);
    try {
      return await this.submitInner(input, clientId, t0);
    } finally {
      this.submitting.delete(clientId);
    }
  }

  private async submitInner(input: OrderInput, clientId: string, t0: number): Promise<OrderRecord> {
    let o = newOrder({ ...input, clientId, magic: this.o.magic }, this.o.clock.now());
    this.orders.set(clientId, o);
    this.o.events.emit('trade', 'order.state', { clientId, from: null, to: 'intent', origin: o.origin });
    const bad = await this.validate(input);
    if (bad) {
      const r = this.transition(o, { type: 'invalid', error: bad.error }, true);
      o = { ...r.o, retcode: bad.retcode };
      await this.save(o, true);
      await this.alertFatal(o, bad.retcode, bad.error, 'order.invalid');
      return o;
    }
    const r = this.transition(o, { type: 'persist' }, true);
    await r.saved; // durable before it may leave
    this.durableLatency.push(this.o.clock.monotonic() - t0);
    if (this.durableLatency.length > 100_000) this.durableLatency.splice(0, 50_000);
    return this.track(this.drive(clientId, t0));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }

  /**
   * Drive an order until it is terminal, unknown-and-unresolved, or parked.
   * Resolves with the record after the first answer; the rest runs on.
   */
  private drive(clientId: string, t0?: number): Promise<OrderRecord> {
    if (this.driving.has(clientId)) return Promise.resolve(this.orders.get(clientId)!);
    this.driving.add(clientId);
    let firstAnswer!: (o: OrderRecord) => void;
    const first = new Promise<OrderRecord>((r) => (firstAnswer = r));
    const done = (async () => {
      try {
        await this.runRounds(clientId, (o) => firstAnswer(o), t0);
      } catch (e) {
        if (!this.stopped) this.o.log.error({ err: (e as Error).message, clientId }, 'engine: order driver failed');
      } finally {
        this.driving.delete(clientId);
        firstAnswer(this.orders.get(clientId)!);
      }
    })();
    this.track(done);
    return first;
  }

  private async runRounds(clientId: string, onAnswer: (o: OrderRecord) => void, t0?: number): Promise<void> {
    const signal = this.abort.signal;
    const attempt = () => this.attemptOnce(clientId, onAnswer, t0);
    // An order parked before a restart resumes its rounds where the row says: restarting its
    // 1-2-4-8-16 s backoff would send it up to 5 more times than the seed allows.
    const resumed = this.parkedAtLoad.get(clientId);
    this.parkedAtLoad.delete(clientId);
    if (!resumed) {
      const backoff = retry({
        clock: this.o.clock,
        delays: this.o.backoffMs,
        maxRetries: this.o.maxAttempts,
        handle: (e) => e instanceof Transient,
        wake: this.o.broker.wake,
        onRetry: ({ attempt: n, delayMs }) => this.o.events.emit('trade', 'order.retry', { clientId, attempt: n, delayMs }),
        onWoken: ({ attempt: n }) => this.o.events.emit('trade', 'order.retry_woken', { clientId, attempt: n }),
      });
      try {
        await backoff.execute(attempt, signal);
        return;
      } catch (e) {
        if (!(e instanceof RetriesExhaustedError)) throw e;
      }
    }
    // Seed §3.1 step 2: park in failed_syncs, retry every 30 s up to 5 times. The row carries the
    // rounds done and the next due time, written before each round, so a restart resumes them.
    let o = this.orders.get(clientId)!;
    const fsId = resumed?.id ?? `order-${clientId}`;
    const createdAt = resumed?.createdAt ?? this.o.clock.now();
    let rounds = resumed?.attempts ?? 0;
    let dueAt = parkedPayload(resumed?.payload ?? '').nextDueAt ?? this.o.clock.now() + this.o.failedSyncRetryMs;
    const persist = () => {
      const cur = this.orders.get(clientId)!;
      const payload: ParkedOrder = { symbol: cur.symbol, nextDueAt: dueAt };
      return this.o.duck.putFailedSync({ id: fsId, kind: 'order', ref: clientId, payload: JSON.stringify(payload), attempts: rounds, createdAt, lastError: cur.error ?? String(cur.retcode) });
    };
    if (resumed) {
      this.o.events.emit('trade', 'order.failed_sync_resumed', { clientId, attempts: rounds, dueInMs: Math.max(0, dueAt - this.o.clock.now()) });
    } else {
      await persist();
      this.o.events.emit('trade', 'order.parked', { clientId, retcode: o.retcode });
    }
    if (o.state === 'retrying') o = this.transition(o, { type: 'next_round' }, true).o;
    let settled = false;
    try {
      while (rounds < this.o.failedSyncMaxAttempts) {
        await waitOrWake(this.o.clock, Math.max(0, dueAt - this.o.clock.now()), this.o.broker.wake, signal);
        rounds++;
        dueAt = this.o.clock.now() + this.o.failedSyncRetryMs;
        await persist();
        this.o.events.emit('trade', 'order.failed_sync_retry', { clientId, attempt: rounds });
        try {
          await attempt();
          settled = true;
          return;
        } catch (e) {
          if (!(e instanceof Transient)) throw e;
        }
      }
      o = this.orders.get(clientId)!;
      o = this.transition(o, { type: 'give_up', error: `gave up after ${o.sends} sends: ${o.error ?? o.retcode}` }, true).o;
      settled = true;
      await this.alertFatal(o, o.retcode ?? 0, o.error ?? 'retries exhausted', 'order.gave_up');
    } finally {
      // Kept when the engine stops mid-wait: the row is what lets the next process resume.
      if (settled) await this.o.duck.deleteFailedSync(fsId).catch(() => {});
    }
  }

  /** The price to send: the requested one, else a fresh quote (the answer's bid/ask after a requote). */
  private async priceFor(o: OrderRecord, requote?: { bid: number; ask: number }): Promise<number | undefined> {
    if (o.price != null && !requote) return o.price;
    const q = requote ?? this.o.quote?.(o.symbol) ?? (await this.o.broker.tick(o.symbol).catch(() => null)) ?? undefined;
    if (!q || !(q.bid > 0) || !(q.ask > 0)) return undefined;
    return o.side === 'buy' ? q.ask : q.bid;
  }

  private request(o: OrderRecord, price: number): MqlTradeRequest {
    return {
      action: 1,
      magic: o.magic,
      symbol: o.symbol,
      volume: o.volume,
      price,
      deviation: o.deviation,
      type: o.side === 'buy' ? 0 : 1,
      type_filling: 0,
      sl: o.sl,
      tp: o.tp,
      comment: o.clientId,
    };
  }

  /** One send (plus immediate re-prices). Throws Transient for the backoff class. */
  private async attemptOnce(clientId: string, onAnswer: (o: OrderRecord) => void, t0?: number): Promise<void> {
    let requote: { bid: number; ask: number } | undefined;
    for (let requotes = 0; ; requotes++) {
      let o = this.orders.get(clientId)!;
      if (isTerminal(o.state) || o.state === 'unknown') return;
      const price = await this.priceFor(o, requote);
      if (price === undefined) {
        // No quote yet (feed and broker silent): nothing can be sent; back off like 10021 off quotes.
        this.o.events.emit('trade', 'order.no_quote', { clientId, symbol: o.symbol });
        onAnswer(o);
        throw new Transient('no quote');
      }
      o = this.transition(o, { type: 'send', price }, false).o;
      if (t0 !== undefined && o.sends === 1) {
        this.sendLatency.push(this.o.clock.monotonic() - t0);
        if (this.sendLatency.length > 100_000) this.sendLatency.splice(0, 50_000);
      }
      let r: MqlTradeResult;
      try {
        r = await this.o.broker.orderSend(this.request(o, price), this.o.orderTimeoutMs);
      } catch (e) {
        if (e instanceof BrokerConnectionError && !e.delivered) {
          o = this.transition(o, { type: 'refused', retcode: RETCODE.DISCONNECTED_BEFORE_TRADE, error: e.message }, false).o;
          onAnswer(o);
          throw new Transient(e.message);
        }
        if (e instanceof BrokerProtocolError) {
          o = this.transition(o, { type: 'fatal', retcode: RETCODE.INVALID, error: e.message }, false).o;
          onAnswer(o);
          await this.alertFatal(o, RETCODE.INVALID, e.message, 'order.fatal');
          return;
        }
        // Timeout, or connection lost after the request left: outcome unknown.
        const code = e instanceof BrokerTimeoutError ? RETCODE.TIMEOUT : RETCODE.DISCONNECTED_DURING_TRADE;
        o = this.transition(o, { type: 'lost', retcode: code, error: (e as Error).message }, false).o;
        onAnswer(o);
        await this.resolveAndMaybeResend(clientId);
        return;
      }
      const cls = classifyRetcode(r.retcode);
      if (cls === 'ok' || cls === 'partial') {
        o = this.transition(
          o,
          { type: cls === 'ok' ? 'filled' : 'partial', retcode: r.retcode, order: r.order, deal: r.deal, volume: r.volume, price: r.price },
          false,
        ).o;
        if (r.deal) this.saveDeal({ deal: r.deal, clientId, order: r.order, symbol: o.symbol, side: o.side, volume: r.volume, price: r.price, magic: o.magic, timeMsc: this.o.clock.now(), positionId: 0 });
        onAnswer(o);
        return;
      }
      if (cls === 'price') {
        o = this.transition(o, { type: 'refused', retcode: r.retcode, error: r.comment }, false).o;
        if (requotes < this.o.maxRequotes) {
          requote = { bid: r.bid, ask: r.ask };
          continue;
        }
        onAnswer(o);
        throw new Transient(`requoted ${requotes + 1} times`);
      }
      if (cls === 'backoff' || cls === 'wait') {
        o = this.transition(o, { type: 'refused', retcode: r.retcode, error: r.comment }, false).o;
        onAnswer(o);
        throw new Transient(r.comment);
      }
      if (cls === 'unknown') {
        o = this.transition(o, { type: 'lost', retcode: r.retcode, error: r.comment }, false).o;
        onAnswer(o);
        await this.resolveAndMaybeResend(clientId);
        return;
      }
      o = this.transition(o, { type: 'fatal', retcode: r.retcode, error: r.comment }, false).o;
      onAnswer(o);
      await this.alertFatal(o, r.retcode, r.comment, 'order.fatal');
      return;
    }
  }

  /** After `lost`: reconcile; if the broker proves the order absent, it is resent by the caller's backoff. */
  private async resolveAndMaybeResend(clientId: string): Promise<void> {
    const how = await this.resolveUnknown(clientId);
    if (how === 'absent') throw new Transient('broker records prove the order absent');
  }

  private async alertFatal(o: OrderRecord, retcode: number, error: string, code: string): Promise<void> {
    this.o.events.emit('trade', code, { clientId: o.clientId, retcode, error, symbol: o.symbol, volume: o.volume, price: o.price });
    await this.o.notifier.notify({
      severity: 'critical',
      component: 'trade',
      code,
      message: `order ${o.clientId} ${o.side} ${o.volume} ${o.symbol}: ${error} (retcode ${retcode})`,
      data: { clientId: o.clientId, retcode, error },
    });
  }

  // ---------- reconciliation ----------

  private async lookup(o: OrderRecord): Promise<TradeDeal[]> {
    return this.o.broker.historyDeals({ comment: o.clientId, magic: o.magic });
  }

  /**
   * Resolve an unknown order from the broker's records: a deal with its comment
   * means it executed; no deal in two look-ups `unknownGraceMs` apart proves it
   * absent. If the broker cannot answer, the order stays unknown.
   */
  async resolveUnknown(clientId: string): Promise<'found' | 'absent' | 'unresolved'> {
    for (let look = 0; look < 2; look++) {
      let o = this.orders.get(clientId)!;
      if (o.state !== 'unknown') return o.state === 'reconciled' ? 'found' : 'unresolved';
      let deals: TradeDeal[];
      try {
        deals = await this.lookup(o);
      } catch {
        return 'unresolved';
      }
      if (deals.length > 0) {
        const volume = deals.reduce((s, d) => s + d.volume, 0);
        const d0 = deals[0]!;
        o = this.transition(o, { type: 'found', order: d0.order, deal: d0.ticket, volume, price: d0.price }, true).o;
        for (const d of deals) this.saveDeal(this.dealFrom(d, clientId));
        if (deals.length > 1) this.o.events.emit('trade', 'order.duplicate_detected', { clientId, deals: deals.map((d) => d.ticket) });
        return 'found';
      }
      if (look === 0) await this.o.clock.sleep(this.o.unknownGraceMs, this.abort.signal).catch(() => {});
    }
    const o = this.orders.get(clientId)!;
    if (o.state !== 'unknown') return 'unresolved';
    this.transition(o, { type: 'absent' }, true);
    return 'absent';
  }

  /** `resolveUnknown` for many orders at once: one deals query per look-up. */
  private async resolveMany(ids: readonly string[]): Promise<{ found: string[]; absent: string[] }> {
    const out = { found: [] as string[], absent: [] as string[] };
    let pending = [...ids];
    const from = Math.min(...ids.map((id) => this.orders.get(id)!.createdAt)) - 60_000;
    for (let look = 0; look < 2 && pending.length > 0; look++) {
      if (look === 1) await this.o.clock.sleep(this.o.unknownGraceMs, this.abort.signal).catch(() => {});
      let deals: TradeDeal[];
      try {
        deals = await this.o.broker.historyDeals({ magic: this.o.magic, from_msc: Math.max(0, from) });
      } catch {
        return out; // broker unreachable: they stay unknown until the next cycle
      }
      const byComment = new Map<string, TradeDeal[]>();
      for (const d of deals) {
        const list = byComment.get(d.comment);
        if (list) list.push(d);
        else byComment.set(d.comment, [d]);
      }
      const still: string[] = [];
      for (const id of pending) {
        const o = this.orders.get(id)!;
        if (o.state !== 'unknown') continue;
        const ds = byComment.get(id);
        if (!ds) {
          still.push(id);
          continue;
        }
        const d0 = ds[0]!;
        this.transition(o, { type: 'found', order: d0.order, deal: d0.ticket, volume: ds.reduce((s, d) => s + d.volume, 0), price: d0.price }, true);
        for (const d of ds) this.saveDeal(this.dealFrom(d, id));
        if (ds.length > 1) this.o.events.emit('trade', 'order.duplicate_detected', { clientId: id, deals: ds.map((d) => d.ticket) });
        out.found.push(id);
      }
      pending = still;
    }
    for (const id of pending) {
      const o = this.orders.get(id)!;
      if (o.state !== 'unknown') continue;
      this.transition(o, { type: 'absent' }, true);
      out.absent.push(id);
    }
    return out;
  }

  private dealFrom(d: TradeDeal, clientId: string): DealRecord {
    return {
      deal: d.ticket,
      clientId,
      order: d.order,
      symbol: d.symbol,
      side: d.type === 0 ? 'buy' : 'sell',
      volume: d.volume,
      price: d.price,
      magic: d.magic,
      timeMsc: d.time_msc,
      positionId: d.position_id,
    };
  }

  /**
   * Deals with our magic since `sinceMsc` (all of them without it), asked for in time slices: each
   * answer is parsed on the event loop's thread, and at 1,000 orders/s one answer for a periodic
   * pass's 3 s window (3,000-6,700 deals) held the loop for 20-35 ms, most of the intents' p99.
   * The slices are half-open [from, to), as the broker's filter is, and the last one is open-ended,
   * so together they return exactly what one query would. A long window (after an outage) gets at
   * most DEAL_SLICES_MAX slices.
   */
  private async *dealsSince(magic: number, sinceMsc: number | undefined): AsyncGenerator<TradeDeal[]> {
    if (!sinceMsc) {
      yield await this.o.broker.historyDeals({ magic });
      return;
    }
    const now = this.o.clock.now();
    const slice = Math.max(DEAL_SLICE_MS, Math.ceil((now - sinceMsc) / DEAL_SLICES_MAX));
    let from = sinceMsc;
    for (; from + slice < now; from += slice) yield await this.o.broker.historyDeals({ magic, from_msc: from, to_msc: from + slice });
    yield await this.o.broker.historyDeals({ magic, from_msc: from });
  }

  /**
   * Startup and periodic reconciliation; the broker is the truth.
   *  - non-terminal orders not being driven are resolved (startup: `recover` first);
   *  - deals with our magic but an unknown comment are adopted as orders;
   *  - broker positions with our magic we don't know are adopted (orphans);
   *  - local open positions missing at the broker are flagged, never assumed flat.
   */
  async reconcile(opts: { startup?: boolean; sinceMsc?: number } = {}): Promise<{ resolved: number; adopted: number; orphans: number; missing: number }> {
    const out = { resolved: 0, adopted: 0, orphans: 0, missing: 0 };
    const magic = this.o.magic;
    // 1. orders: resolved in bulk (two look-ups for all of them, not two per order).
    const open: string[] = [];
    for (const o of [...this.orders.values()]) {
      if (isTerminal(o.state) || this.driving.has(o.clientId) || this.submitting.has(o.clientId)) continue;
      if (o.state === 'intent') continue;
      if (o.state !== 'unknown') this.transition(o, { type: 'recover' }, true);
      open.push(o.clientId);
    }
    if (open.length > 0) {
      const r = await this.resolveMany(open);
      out.resolved += r.found.length + r.absent.length;
      // A parked order the broker executed after all needs no more rounds: drop its row.
      for (const id of r.found) {
        const parked = this.parkedAtLoad.get(id);
        if (!parked) continue;
        this.parkedAtLoad.delete(id);
        await this.o.duck.deleteFailedSync(parked.id).catch(() => {});
      }
      for (const id of r.absent) void this.drive(id);
    }
    // 2. deals we have no order for (e.g. the tail of a lost WAL)
    for await (const deals of this.dealsSince(magic, opts.sinceMsc)) {
      for (const d of deals) {
        if (this.deals.has(d.ticket)) continue;
        const known = this.orders.get(d.comment);
        // Only ids this instance generated: other instances may share the magic.
        if (!known && d.comment.startsWith(`${this.ids.tag}.`)) {
          const side: Side = d.type === 0 ? 'buy' : 'sell';
          let rec = newOrder({ clientId: d.comment, magic, symbol: d.symbol, side, volume: d.volume, price: null }, this.o.clock.now());
          rec = { ...rec, state: 'reconciled', sends: 1, brokerOrder: d.order, deal: d.ticket, filledVolume: d.volume, fillPrice: d.price, retcode: RETCODE.DONE };
          await this.save(rec, true);
          this.o.events.emit('trade', 'reconcile.order_adopted', { clientId: d.comment, deal: d.ticket });
          out.adopted++;
        }
        this.saveDeal(this.dealFrom(d, d.comment));
      }
    }
    // 3. positions
    const atBroker = await this.o.broker.positions({ magic });
    const seen = new Set<number>();
    for (const p of atBroker) {
      seen.add(p.ticket);
      const mine = this.positions.get(p.ticket);
      const orphan = mine ? mine.orphan : !this.orders.has(p.comment) && !this.isOurDealPosition(p.ticket);
      const rec: PositionRecord = {
        ticket: p.ticket,
        symbol: p.symbol,
        side: p.type === 0 ? 'buy' : 'sell',
        volume: p.volume,
        priceOpen: p.price_open,
        magic: p.magic,
        comment: p.comment,
        status: 'open',
        orphan,
        updatedAt: this.o.clock.now(),
      };
      if (!mine || mine.volume !== rec.volume || mine.status !== 'open') this.savePosition(rec);
      if (!mine && orphan) {
        out.orphans++;
        this.o.events.emit('trade', 'reconcile.orphan_adopted', { ticket: p.ticket, symbol: p.symbol, volume: p.volume, comment: p.comment });
        await this.o.notifier.notify({
          severity: 'warning',
          component: 'trade',
          code: 'reconcile.orphan',
          message: `adopted broker position ${p.ticket} (${p.symbol} ${p.volume}) carrying our magic but unknown locally`,
          data: { ticket: p.ticket },
        });
      }
    }
    for (const mine of this.positions.values()) {
      if (mine.status !== 'open' || seen.has(mine.ticket)) continue;
      // Gone at the broker: closed by a deal (SL/TP, netting) or missing. Never assumed flat without proof.
      const closing = await this.o.broker.historyDeals({ position: mine.ticket }).catch(() => []);
      const closed = closing.some((d) => d.entry === 1 || d.entry === 2);
      this.savePosition({ ...mine, status: closed ? 'closed' : 'missing', updatedAt: this.o.clock.now() });
      if (!closed) {
        out.missing++;
        this.o.events.emit('trade', 'reconcile.position_missing', { ticket: mine.ticket, symbol: mine.symbol, volume: mine.volume });
        await this.o.notifier.notify({
          severity: 'critical',
          component: 'trade',
          code: 'reconcile.position_missing',
          message: `local position ${mine.ticket} (${mine.symbol} ${mine.volume}) is missing at the broker with no closing deal`,
          data: { ticket: mine.ticket },
        });
      }
    }
    this.o.events.emit('trade', 'reconcile.done', { startup: !!opts.startup, ...out });
    return out;
  }

  private isOurDealPosition(ticket: number): boolean {
    for (const d of this.deals.values()) if (d.positionId === ticket && this.orders.has(d.clientId)) return true;
    return false;
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const o of this.orders.values()) c[o.state] = (c[o.state] ?? 0) + 1;
    return c;
  }

  /** Wait for every order driver to settle (used by stop and tests). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort(new Error('engine stopping'));
    this.o.broker.wake.fire();
    await Promise.allSettled([...this.inflight]);
  }
}
