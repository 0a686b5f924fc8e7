import type { Clock } from '../../core/clock.ts';
import type { Random } from '../../core/random.ts';
import type { QuoteSource } from '../feed/server.ts';
import { inSession, roundPrice, type SymbolSpec } from '../feed/symbols.ts';
import {
  DealEntry,
  ExecutionMode,
  MarginMode,
  OrderState,
  RETCODE_TEXT,
  Reason,
  Retcode,
  TradeMode,
  type AccountInfo,
  type MqlTradeCheckResult,
  type MqlTradeRequest,
  type MqlTradeResult,
  type QueryFilter,
  type SymbolInfo,
  type Tick,
  type TradeDeal,
  type TradeOrder,
  type TradePosition,
} from '../protocol/types.ts';
import { noFaults, type Faults } from './faults.ts';
import { Ledger, matches, type LedgerRequest } from './ledger.ts';

export interface EngineOptions {
  clock: Clock;
  random: Random;
  quotes: QuoteSource;
  marginMode?: 'netting' | 'hedging';
  /** Reject an opening order whose magic+symbol+comment match an earlier executed order. */
  dedupe?: boolean;
  balance?: number;
  leverage?: number;
  currency?: string;
  faults?: Faults;
  /** Share a ledger across engine instances (a restarted broker keeps its record). */
  ledger?: Ledger;
}

/** What the transport must do with one order_send before and after execution. */
export interface SendPlan {
  requestId: number;
  delayMs: number;
  timeoutBefore: 'retcode' | 'drop' | undefined;
  timeoutAfter: 'retcode' | 'drop' | undefined;
}

const EPS = 1e-9;

function onGrid(value: number, step: number): boolean {
  const k = value / step;
  return Math.abs(k - Math.round(k)) < 1e-6;
}

/** Signed side: +1 for buy types (0, 2, 4), -1 for sell types. */
function side(type: number): 1 | -1 {
  return type % 2 === 0 ? 1 : -1;
}

class Reject {
  constructor(
    readonly retcode: number,
    readonly comment?: string,
  ) {}
}

/**
 * The simulated trade server's decisions: MT5 validation order (mt5-trading.md
 * §1.7), fills at the feed's quotes, netting/hedging bookkeeping and the
 * seeded fault knobs that live inside the server. Transport faults (latency,
 * dropped replies, refused connections) are planned here and acted on by the
 * TCP layer, so one seed decides everything.
 */
export class BrokerEngine {
  readonly ledger: Ledger;
  faults: Faults;
  readonly marginMode: 'netting' | 'hedging';
  readonly dedupe: boolean;
  private readonly specs = new Map<string, SymbolSpec>();
  private readonly clock: Clock;
  private readonly quotes: QuoteSource;
  private readonly rnd: Record<'latency' | 'timeoutBefore' | 'timeoutAfter' | 'connection' | 'reject' | 'requote' | 'offQuotes' | 'partial', Random>;
  private balance: number;
  private readonly leverage: number;
  private readonly currency: string;
  private recentSends: number[] = [];
  /** Position ticket → request id of the close that is admitted but not yet executed. */
  private readonly closesInFlight = new Map<number, number>();
  /** Tickets of working pending orders, so quote triggers do not scan the order history. */
  private readonly working = new Set<number>();

  constructor(opts: EngineOptions) {
    this.clock = opts.clock;
    this.quotes = opts.quotes;
    for (const s of opts.quotes.symbols) this.specs.set(s.name, s);
    this.marginMode = opts.marginMode ?? 'hedging';
    this.dedupe = opts.dedupe ?? false;
    this.balance = opts.balance ?? 100_000;
    this.leverage = opts.leverage ?? 100;
    this.currency = opts.currency ?? 'USD';
    this.faults = opts.faults ?? noFaults();
    this.ledger = opts.ledger ?? new Ledger();
    const f = (l: string) => opts.random.fork(`broker:${l}`);
    this.rnd = {
      latency: f('latency'),
      timeoutBefore: f('timeout-before'),
      timeoutAfter: f('timeout-after'),
      connection: f('connection'),
      reject: f('reject'),
      requote: f('requote'),
      offQuotes: f('off-quotes'),
      partial: f('partial'),
    };
  }

  knownSymbol = (s: string): boolean => this.specs.has(s);

  // ---------------------------------------------------------------- order_send

  /** Record the request and draw its transport fate. */
  admit(request: MqlTradeRequest): SendPlan {
    const requestId = this.ledger.nextRequestId++;
    const entry: LedgerRequest = {
      request_id: requestId,
      time_msc: this.clock.now(),
      op: 'order_send',
      request,
      retcode: null,
      answered_retcode: null,
      outcome: 'pending',
      order: 0,
      deal: 0,
    };
    this.ledger.requests.push(entry);
    const f = this.faults;
    const lat = f.latency;
    let delayMs = lat.fixedMs;
    if (lat.jitterMs > 0) delayMs += this.rnd.latency.next() * lat.jitterMs;
    if (lat.tailProbability > 0 && this.rnd.latency.chance(lat.tailProbability)) delayMs += this.rnd.latency.next() * lat.tailMs;
    const timeoutBefore = f.timeoutBeforeExecution.rate > 0 && this.rnd.timeoutBefore.chance(f.timeoutBeforeExecution.rate) ? f.timeoutBeforeExecution.mode : undefined;
    const timeoutAfter =
      !timeoutBefore && f.timeoutAfterExecution.rate > 0 && this.rnd.timeoutAfter.chance(f.timeoutAfterExecution.rate) ? f.timeoutAfterExecution.mode : undefined;
    if (!timeoutBefore && request.action === 1 && request.position !== undefined && !this.closesInFlight.has(request.position)) {
      this.closesInFlight.set(request.position, requestId);
    }
    return { requestId, delayMs, timeoutBefore, timeoutAfter };
  }

  /** Run the validation chain and, if it passes, execute. */
  execute(requestId: number): MqlTradeResult {
    const entry = this.ledger.request(requestId);
    if (!entry) throw new Error(`no request ${requestId}`);
    const r = entry.request;
    let result: MqlTradeResult;
    try {
      result = this.run(r, requestId);
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      result = this.result(requestId, e.retcode, r.symbol, { comment: e.comment });
    } finally {
      if (r.position !== undefined && this.closesInFlight.get(r.position) === requestId) this.closesInFlight.delete(r.position);
    }
    entry.retcode = result.retcode;
    entry.order = result.order;
    entry.deal = result.deal;
    return result;
  }

  /** The 10012 answer for a request whose reply "timed out". */
  timeoutResult(requestId: number): MqlTradeResult {
    const entry = this.ledger.request(requestId);
    return this.result(requestId, Retcode.TIMEOUT, entry?.request.symbol);
  }

  /** A request that never executes (timeout before execution) leaves its close slot. */
  abandon(requestId: number): void {
    const entry = this.ledger.request(requestId);
    const pos = entry?.request.position;
    if (pos !== undefined && this.closesInFlight.get(pos) === requestId) this.closesInFlight.delete(pos);
  }

  recordAnswer(requestId: number, answered: MqlTradeResult | undefined, outcome: 'answered' | 'timeout_retcode' | 'dropped'): void {
    const entry = this.ledger.request(requestId);
    if (!entry) return;
    entry.outcome = outcome;
    entry.answered_retcode = answered ? answered.retcode : null;
  }

  /** admit + execute with no transport faults: the synchronous path used by unit tests. */
  orderSend(request: MqlTradeRequest): MqlTradeResult {
    const plan = this.admit(request);
    if (plan.timeoutBefore) {
      this.abandon(plan.requestId);
      const res = this.timeoutResult(plan.requestId);
      this.recordAnswer(plan.requestId, plan.timeoutBefore === 'retcode' ? res : undefined, plan.timeoutBefore === 'retcode' ? 'timeout_retcode' : 'dropped');
      return res;
    }
    const res = this.execute(plan.requestId);
    if (plan.timeoutAfter) {
      const t = this.timeoutResult(plan.requestId);
      this.recordAnswer(plan.requestId, plan.timeoutAfter === 'retcode' ? t : undefined, plan.timeoutAfter === 'retcode' ? 'timeout_retcode' : 'dropped');
      return t;
    }
    this.recordAnswer(plan.requestId, res, 'answered');
    return res;
  }

  private result(requestId: number, retcode: number, symbol: string | undefined, extra: Partial<MqlTradeResult> = {}): MqlTradeResult {
    const q = symbol ? this.quotes.quote(symbol) : undefined;
    return {
      retcode,
      deal: extra.deal ?? 0,
      order: extra.order ?? 0,
      volume: extra.volume ?? 0,
      price: extra.price ?? 0,
      bid: q?.bid ?? 0,
      ask: q?.ask ?? 0,
      comment: extra.comment ?? RETCODE_TEXT[retcode] ?? '',
      request_id: requestId,
      retcode_external: 0,
    };
  }

  private run(r: MqlTradeRequest, requestId: number): MqlTradeResult {
    // 1. connectivity
    if (this.faults.connectionRate > 0 && this.rnd.connection.chance(this.faults.connectionRate)) throw new Reject(Retcode.CONNECTION);
    if (this.faults.maxRequestsPerSecond !== null) {
      const now = this.clock.now();
      this.recentSends = this.recentSends.filter((t) => t > now - 1000);
      if (this.recentSends.length >= this.faults.maxRequestsPerSecond) throw new Reject(Retcode.TOO_MANY_REQUESTS);
      this.recentSends.push(now);
    }
    switch (r.action) {
      case 1:
        return this.deal(r, requestId);
      case 5:
        return this.pending(r, requestId);
      case 6:
        return this.sltp(r, requestId);
      case 7:
        return this.modify(r, requestId);
      case 8:
        return this.remove(r, requestId);
      default:
        throw new Reject(Retcode.INVALID, `unsupported action ${r.action}`);
    }
  }

  private spec(symbol: string | undefined): SymbolSpec {
    const s = symbol === undefined ? undefined : this.specs.get(symbol);
    if (!s) throw new Reject(Retcode.INVALID, `unknown symbol ${symbol}`);
    return s;
  }

  private checkTradable(s: SymbolSpec): void {
    if (s.trade_mode === TradeMode.DISABLED) throw new Reject(Retcode.TRADE_DISABLED);
    if (!this.marketOpen(s)) throw new Reject(Retcode.MARKET_CLOSED);
  }

  marketOpen(s: SymbolSpec): boolean {
    const now = this.clock.now();
    if (this.faults.marketClosed.some((w) => now >= w.fromMsc && now < w.toMsc)) return false;
    return inSession(s.sessions, now);
  }

  private checkVolume(s: SymbolSpec, volume: number | undefined): number {
    if (volume === undefined || !(volume > 0)) throw new Reject(Retcode.INVALID_VOLUME, 'volume must be positive');
    if (volume < s.volume_min - EPS) throw new Reject(Retcode.INVALID_VOLUME, `volume below minimum ${s.volume_min}`);
    if (volume > s.volume_max + EPS) throw new Reject(Retcode.INVALID_VOLUME, `volume above maximum ${s.volume_max}`);
    if (!onGrid(volume, s.volume_step)) throw new Reject(Retcode.INVALID_VOLUME, `volume not a multiple of ${s.volume_step}`);
    return volume;
  }

  private checkPriceGrid(s: SymbolSpec, price: number, what = 'price'): void {
    if (!(price > 0)) throw new Reject(Retcode.INVALID_PRICE, `${what} must be positive`);
    if (!onGrid(price, s.point)) throw new Reject(Retcode.INVALID_PRICE, `${what} not normalised to ${s.digits} digits`);
  }

  /** SL/TP relative to the price a position of `dir` would close at. */
  private checkStops(s: SymbolSpec, dir: 1 | -1, ref: number, sl: number | undefined, tp: number | undefined): void {
    const min = s.trade_stops_level * s.point;
    for (const [name, v] of [
      ['sl', sl],
      ['tp', tp],
    ] as const) {
      if (v === undefined || v === 0) continue;
      if (v < 0 || !onGrid(v, s.point)) throw new Reject(Retcode.INVALID_STOPS, `${name} not a valid price`);
      // A buy's SL sits below and TP above the reference; mirrored for a sell.
      const below = (name === 'sl') === (dir === 1);
      const dist = below ? ref - v : v - ref;
      if (dist < min - EPS) throw new Reject(Retcode.INVALID_STOPS, `${name} ${v} closer than ${s.trade_stops_level} points or on the wrong side`);
    }
  }

  private checkFilling(s: SymbolSpec, filling: number): void {
    const ok = (filling === 0 && (s.filling_mode & 1) !== 0) || (filling === 1 && (s.filling_mode & 2) !== 0) || (filling === 2 && s.trade_exemode === ExecutionMode.MARKET);
    if (!ok) throw new Reject(Retcode.INVALID_FILL, `filling type ${filling} not allowed for ${s.name}`);
  }

  private marginFor(s: SymbolSpec, volume: number, price: number): number {
    return (volume * s.trade_contract_size * price) / this.leverage;
  }

  private checkMargin(s: SymbolSpec, openingVolume: number, price: number): void {
    if (openingVolume <= EPS) return;
    const acc = this.accountInfo();
    if (this.marginFor(s, openingVolume, price) > acc.margin_free + EPS) throw new Reject(Retcode.NO_MONEY);
  }

  private marketFaults(symbol: string): Tick {
    const f = this.faults;
    if (f.rejectRate > 0 && this.rnd.reject.chance(f.rejectRate)) throw new Reject(Retcode.REJECT);
    if (f.requoteRate > 0 && this.rnd.requote.chance(f.requoteRate)) throw new Reject(Retcode.REQUOTE);
    if (f.offQuotesRate > 0 && this.rnd.offQuotes.chance(f.offQuotesRate)) throw new Reject(Retcode.PRICE_OFF);
    const q = this.quotes.quote(symbol);
    if (!q) throw new Reject(Retcode.PRICE_OFF, 'no quote yet');
    return q;
  }

  private findDuplicate(r: MqlTradeRequest, symbol: string): TradeOrder | undefined {
    if (!this.dedupe || !r.comment) return undefined;
    const magic = r.magic ?? 0;
    for (const o of this.ledger.orders.values()) {
      if (o.comment === r.comment && o.magic === magic && o.symbol === symbol && (o.state === OrderState.FILLED || o.state === OrderState.PLACED)) return o;
    }
    return undefined;
  }

  private deal(r: MqlTradeRequest, requestId: number): MqlTradeResult {
    const L = this.ledger;
    // A DEAL naming a position closes it; its symbol comes from the position.
    let target: TradePosition | undefined;
    if (r.position !== undefined && r.position !== 0) {
      target = L.positions.get(r.position);
      const symbol = target?.symbol ?? r.symbol;
      const s = this.spec(symbol ?? this.symbolOfClosed(r.position));
      this.checkTradable(s);
      if (!target) {
        if (L.closedPositions.has(r.position)) throw new Reject(Retcode.POSITION_CLOSED);
        throw new Reject(Retcode.INVALID, `position ${r.position} does not exist`);
      }
      const owner = this.closesInFlight.get(r.position);
      if (owner !== undefined && owner !== requestId) throw new Reject(Retcode.CLOSE_ORDER_EXIST);
      if (r.symbol !== undefined && r.symbol !== target.symbol) throw new Reject(Retcode.INVALID, `position ${r.position} is ${target.symbol}, not ${r.symbol}`);
      if (r.type !== 0 && r.type !== 1) throw new Reject(Retcode.INVALID, `type ${r.type} is not a market type`);
      if (side(r.type) === side(target.type)) throw new Reject(Retcode.INVALID, 'closing deal must be opposite to the position');
    }
    const s = this.spec(target?.symbol ?? r.symbol);
    if (!target) {
      this.checkTradable(s);
      if (r.type !== 0 && r.type !== 1) throw new Reject(Retcode.INVALID, `type ${r.type} is not a market type (0 buy, 1 sell)`);
      const dup = this.findDuplicate(r, s.name);
      if (dup) throw new Reject(Retcode.REJECT, `duplicate of order ${dup.ticket}`);
    }
    const dir = side(r.type!);
    const volume = this.checkVolume(s, r.volume);
    if (target && volume > target.volume + EPS) throw new Reject(Retcode.INVALID_VOLUME, `volume above position volume ${target.volume}`);
    const instant = s.trade_exemode === ExecutionMode.INSTANT;
    if (instant && (r.price === undefined || r.price === 0)) throw new Reject(Retcode.INVALID_PRICE, 'price required in instant execution');
    if (r.price !== undefined && r.price !== 0) this.checkPriceGrid(s, r.price);
    const q0 = this.quotes.quote(s.name);
    if (!target && q0) this.checkStops(s, dir, dir === 1 ? q0.bid : q0.ask, r.sl, r.tp);
    this.checkFilling(s, r.type_filling ?? 0);
    const netPos = this.marginMode === 'netting' && !target ? this.netPosition(s.name) : undefined;
    const opening = target ? 0 : netPos && side(netPos.type) !== dir ? Math.max(0, volume - netPos.volume) : volume;
    if (q0) this.checkMargin(s, opening, dir === 1 ? q0.ask : q0.bid);
    const q = this.marketFaults(s.name);
    const fill = dir === 1 ? q.ask : q.bid;
    if (r.price !== undefined && r.price !== 0) {
      const away = Math.round(Math.abs(fill - r.price) / s.point);
      if (away > (r.deviation ?? 0)) {
        throw new Reject(instant ? Retcode.REQUOTE : Retcode.PRICE_CHANGED, `price moved ${away} points, deviation ${r.deviation ?? 0}`);
      }
    }
    let filled = volume;
    const filling = r.type_filling ?? 0;
    if (filling !== 0 && this.faults.partialFillRate > 0 && this.rnd.partial.chance(this.faults.partialFillRate)) {
      const [lo, hi] = this.faults.partialFillRatio;
      const ratio = lo + this.rnd.partial.next() * (hi - lo);
      const steps = Math.floor((volume * ratio) / s.volume_step + EPS);
      const part = Number((steps * s.volume_step).toFixed(8));
      if (part >= s.volume_min - EPS && part < volume - EPS) filled = part;
    }
    return this.fillDeal(r, s, dir, volume, filled, fill, requestId, target ?? netPos);
  }

  private symbolOfClosed(ticket: number): string | undefined {
    for (let i = this.ledger.deals.length - 1; i >= 0; i--) {
      const d = this.ledger.deals[i]!;
      if (d.position_id === ticket) return d.symbol;
    }
    return undefined;
  }

  private netPosition(symbol: string): TradePosition | undefined {
    for (const p of this.ledger.positions.values()) if (p.symbol === symbol) return p;
    return undefined;
  }

  private fillDeal(
    r: MqlTradeRequest,
    s: SymbolSpec,
    dir: 1 | -1,
    requested: number,
    volume: number,
    price: number,
    requestId: number,
    against: TradePosition | undefined,
    how: { reason?: number; pendingOrder?: TradeOrder } = {},
  ): MqlTradeResult {
    const L = this.ledger;
    const now = this.clock.now();
    const reason = how.reason ?? Reason.EXPERT;
    const orderTicket = how.pendingOrder?.ticket ?? L.nextOrder++;
    const dealTicket = L.nextDeal++;
    const magic = r.magic ?? 0;
    const comment = r.comment ?? '';
    let entry: number = DealEntry.IN;
    let profit = 0;
    let positionId: number;
    if (against && side(against.type) !== dir) {
      // Reduce, close or (netting only) reverse the position.
      const closing = Math.min(volume, against.volume);
      profit = this.pnl(s, against.type, against.price_open, price, closing);
      this.balance += profit;
      positionId = against.identifier;
      const rest = Number((against.volume - closing).toFixed(8));
      const excess = Number((volume - closing).toFixed(8));
      if (rest > EPS) {
        against.volume = rest;
        against.time_update_msc = now;
        entry = DealEntry.OUT;
      } else if (excess > EPS) {
        entry = DealEntry.INOUT;
        Object.assign(against, { type: dir === 1 ? 0 : 1, volume: excess, price_open: price, time_update_msc: now, sl: 0, tp: 0 });
      } else {
        entry = DealEntry.OUT;
        L.positions.delete(against.ticket);
        L.closedPositions.add(against.ticket);
      }
    } else if (against) {
      // Netting, same direction: the position grows at the volume-weighted price.
      const vol = Number((against.volume + volume).toFixed(8));
      against.price_open = roundPrice((against.price_open * against.volume + price * volume) / vol, s.digits + 3);
      against.volume = vol;
      against.time_update_msc = now;
      positionId = against.identifier;
    } else {
      positionId = orderTicket;
      L.positions.set(orderTicket, {
        ticket: orderTicket,
        identifier: orderTicket,
        time: Math.floor(now / 1000),
        time_msc: now,
        time_update_msc: now,
        type: dir === 1 ? 0 : 1,
        magic,
        reason,
        volume,
        price_open: price,
        sl: r.sl ?? 0,
        tp: r.tp ?? 0,
        price_current: price,
        swap: 0,
        profit: 0,
        symbol: s.name,
        comment,
      });
    }
    if (how.pendingOrder) {
      Object.assign(how.pendingOrder, { state: OrderState.FILLED, time_done_msc: now, position_id: positionId, volume_current: 0, price_current: price });
    } else L.orders.set(orderTicket, {
      ticket: orderTicket,
      time_setup_msc: now,
      time_done_msc: now,
      type: dir === 1 ? 0 : 1,
      state: OrderState.FILLED,
      magic,
      position_id: positionId,
      volume_initial: requested,
      volume_current: Number((requested - volume).toFixed(8)),
      price_open: r.price ?? 0,
      sl: r.sl ?? 0,
      tp: r.tp ?? 0,
      price_current: price,
      symbol: s.name,
      comment,
      type_filling: r.type_filling ?? 0,
      type_time: r.type_time ?? 0,
    });
    L.deals.push({
      ticket: dealTicket,
      order: orderTicket,
      time: Math.floor(now / 1000),
      time_msc: now,
      type: dir === 1 ? 0 : 1,
      entry,
      magic,
      reason,
      position_id: positionId,
      volume,
      price,
      commission: 0,
      swap: 0,
      profit: roundPrice(profit, 2),
      fee: 0,
      symbol: s.name,
      comment,
      external_id: '',
    });
    const retcode = volume < requested - EPS ? Retcode.DONE_PARTIAL : Retcode.DONE;
    return this.result(requestId, retcode, s.name, { deal: dealTicket, order: orderTicket, volume, price });
  }

  /**
   * Server-side triggers on each new quote, as a real trade server runs them
   * whether or not the EA is connected: SL/TP close positions (deal reason 4/5,
   * comment `[sl 1.08000]`), pending orders fill at the current bid/ask.
   * Nothing triggers while the market is closed.
   */
  onQuote(t: Tick): void {
    const s = this.specs.get(t.symbol);
    if (!s || !this.marketOpen(s)) return;
    for (const ticket of [...this.working]) {
      const o = this.ledger.orders.get(ticket);
      if (!o || o.state !== OrderState.PLACED) {
        this.working.delete(ticket);
        continue;
      }
      if (o.symbol !== t.symbol) continue;
      const hit =
        (o.type === 2 && t.ask <= o.price_open) || (o.type === 3 && t.bid >= o.price_open) || (o.type === 4 && t.ask >= o.price_open) || (o.type === 5 && t.bid <= o.price_open);
      if (!hit) continue;
      const dir = side(o.type);
      const net = this.marginMode === 'netting' ? this.netPosition(s.name) : undefined;
      const req: MqlTradeRequest = { action: 1, symbol: o.symbol, magic: o.magic, comment: o.comment, sl: o.sl, tp: o.tp, type_filling: o.type_filling };
      this.working.delete(ticket);
      this.fillDeal(req, s, dir, o.volume_initial, o.volume_current, dir === 1 ? t.ask : t.bid, 0, net, { pendingOrder: o });
    }
    if (this.ledger.positions.size === 0) return;
    for (const p of [...this.ledger.positions.values()]) {
      if (p.symbol !== t.symbol || (p.sl === 0 && p.tp === 0)) continue;
      const closeAt = p.type === 0 ? t.bid : t.ask;
      const long = p.type === 0;
      const slHit = p.sl !== 0 && (long ? closeAt <= p.sl : closeAt >= p.sl);
      const tpHit = p.tp !== 0 && (long ? closeAt >= p.tp : closeAt <= p.tp);
      if (!slHit && !tpHit) continue;
      const level = slHit ? p.sl : p.tp;
      const comment = `[${slHit ? 'sl' : 'tp'} ${level.toFixed(s.digits)}]`;
      const req: MqlTradeRequest = { action: 1, symbol: p.symbol, magic: p.magic, comment, position: p.ticket };
      this.fillDeal(req, s, long ? -1 : 1, p.volume, p.volume, closeAt, 0, p, { reason: slHit ? Reason.SL : Reason.TP });
    }
  }

  private pnl(s: SymbolSpec, posType: number, open: number, close: number, volume: number): number {
    return (posType === 0 ? close - open : open - close) * volume * s.trade_contract_size;
  }

  private pending(r: MqlTradeRequest, requestId: number): MqlTradeResult {
    const s = this.spec(r.symbol);
    this.checkTradable(s);
    if (r.type === undefined || r.type < 2 || r.type > 5) throw new Reject(Retcode.INVALID, `type ${r.type} is not a pending type (2..5)`);
    const dup = this.findDuplicate(r, s.name);
    if (dup) throw new Reject(Retcode.REJECT, `duplicate of order ${dup.ticket}`);
    const volume = this.checkVolume(s, r.volume);
    if (r.price === undefined) throw new Reject(Retcode.INVALID_PRICE, 'price required for a pending order');
    this.checkPriceGrid(s, r.price);
    const q = this.quotes.quote(s.name);
    if (!q) throw new Reject(Retcode.PRICE_OFF, 'no quote yet');
    const dir = side(r.type);
    const ref = dir === 1 ? q.ask : q.bid;
    const min = s.trade_stops_level * s.point;
    // Limits sit on the favourable side of the market, stops on the other.
    const isLimit = r.type === 2 || r.type === 3;
    const dist = (isLimit ? -dir : dir) * (r.price - ref);
    if (dist < min - EPS) throw new Reject(Retcode.INVALID_PRICE, `pending price on the wrong side or closer than ${s.trade_stops_level} points`);
    this.checkStops(s, dir, r.price, r.sl, r.tp);
    const filling = r.type_filling ?? 2;
    if (filling < 0 || filling > 2) throw new Reject(Retcode.INVALID_FILL);
    this.checkMargin(s, volume, r.price);
    const now = this.clock.now();
    const ticket = this.ledger.nextOrder++;
    this.ledger.orders.set(ticket, {
      ticket,
      time_setup_msc: now,
      time_done_msc: 0,
      type: r.type,
      state: OrderState.PLACED,
      magic: r.magic ?? 0,
      position_id: 0,
      volume_initial: volume,
      volume_current: volume,
      price_open: r.price,
      sl: r.sl ?? 0,
      tp: r.tp ?? 0,
      price_current: ref,
      symbol: s.name,
      comment: r.comment ?? '',
      type_filling: filling,
      type_time: r.type_time ?? 0,
    });
    this.working.add(ticket);
    return this.result(requestId, Retcode.PLACED, s.name, { order: ticket, volume, price: r.price });
  }

  private positionFor(ticket: number | undefined): TradePosition {
    if (ticket === undefined) throw new Reject(Retcode.INVALID, 'position required');
    const p = this.ledger.positions.get(ticket);
    if (p) return p;
    if (this.ledger.closedPositions.has(ticket)) throw new Reject(Retcode.POSITION_CLOSED);
    throw new Reject(Retcode.INVALID, `position ${ticket} does not exist`);
  }

  private sltp(r: MqlTradeRequest, requestId: number): MqlTradeResult {
    const known = this.ledger.positions.get(r.position ?? -1);
    if (known) this.checkTradable(this.spec(known.symbol));
    const p = this.positionFor(r.position);
    const s = this.spec(p.symbol);
    const q = this.quotes.quote(s.name);
    if (!q) throw new Reject(Retcode.PRICE_OFF, 'no quote yet');
    this.checkStops(s, side(p.type), p.type === 0 ? q.bid : q.ask, r.sl, r.tp);
    p.sl = r.sl ?? 0;
    p.tp = r.tp ?? 0;
    p.time_update_msc = this.clock.now();
    return this.result(requestId, Retcode.DONE, s.name);
  }

  private workingOrder(ticket: number | undefined): TradeOrder {
    const o = ticket === undefined ? undefined : this.ledger.orders.get(ticket);
    if (!o) throw new Reject(Retcode.INVALID, `order ${ticket} does not exist`);
    if (o.state !== OrderState.PLACED) throw new Reject(Retcode.INVALID, `order ${ticket} is not working (state ${o.state})`);
    return o;
  }

  private modify(r: MqlTradeRequest, requestId: number): MqlTradeResult {
    const o = this.workingOrder(r.order);
    const s = this.spec(o.symbol);
    this.checkTradable(s);
    const price = r.price ?? o.price_open;
    this.checkPriceGrid(s, price);
    this.checkStops(s, side(o.type), price, r.sl, r.tp);
    Object.assign(o, { price_open: price, sl: r.sl ?? 0, tp: r.tp ?? 0 });
    return this.result(requestId, Retcode.DONE, s.name, { order: o.ticket });
  }

  private remove(r: MqlTradeRequest, requestId: number): MqlTradeResult {
    const o = this.workingOrder(r.order);
    this.checkTradable(this.spec(o.symbol));
    o.state = OrderState.CANCELED;
    o.time_done_msc = this.clock.now();
    return this.result(requestId, Retcode.DONE, o.symbol, { order: o.ticket });
  }

  // ---------------------------------------------------------------- queries

  orderCheck(r: MqlTradeRequest): MqlTradeCheckResult {
    const acc = this.accountInfo();
    const base = { balance: acc.balance, equity: acc.equity, profit: acc.profit, margin: acc.margin, margin_free: acc.margin_free, margin_level: acc.margin_level, request: r };
    try {
      const s = this.spec(r.symbol ?? this.ledger.positions.get(r.position ?? -1)?.symbol);
      this.checkTradable(s);
      if (r.action === 1 || r.action === 5) {
        this.checkVolume(s, r.volume);
        const q = this.quotes.quote(s.name);
        const price = r.price ?? (q ? (side(r.type ?? 0) === 1 ? q.ask : q.bid) : 0);
        if (r.price !== undefined || s.trade_exemode === ExecutionMode.INSTANT) this.checkPriceGrid(s, price);
        if (q) this.checkStops(s, side(r.type ?? 0), r.action === 5 ? price : side(r.type ?? 0) === 1 ? q.bid : q.ask, r.sl, r.tp);
        if (r.action === 1) this.checkFilling(s, r.type_filling ?? 0);
        const need = r.position ? 0 : this.marginFor(s, r.volume!, price);
        if (need > acc.margin_free + EPS) throw new Reject(Retcode.NO_MONEY);
        return { ...base, margin: acc.margin + need, margin_free: acc.margin_free - need, retcode: 0, comment: 'Done' };
      }
      return { ...base, retcode: 0, comment: 'Done' };
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      return { ...base, retcode: e.retcode, comment: e.comment ?? RETCODE_TEXT[e.retcode] ?? '' };
    }
  }

  private refresh(p: TradePosition): TradePosition {
    const q = this.quotes.quote(p.symbol);
    const s = this.specs.get(p.symbol);
    if (q && s) {
      p.price_current = p.type === 0 ? q.bid : q.ask;
      p.profit = roundPrice(this.pnl(s, p.type, p.price_open, p.price_current, p.volume), 2);
    }
    return p;
  }

  positionsGet(f: QueryFilter): TradePosition[] {
    return [...this.ledger.positions.values()].filter((p) => matches(p, f)).map((p) => ({ ...this.refresh(p) }));
  }

  ordersGet(f: QueryFilter): TradeOrder[] {
    return [...this.ledger.orders.values()].filter((o) => o.state === OrderState.PLACED && matches(o, f)).map((o) => ({ ...o }));
  }

  historyOrdersGet(f: QueryFilter): TradeOrder[] {
    return [...this.ledger.orders.values()].filter((o) => o.state !== OrderState.PLACED && matches(o, f, o.time_done_msc)).map((o) => ({ ...o }));
  }

  historyDealsGet(f: QueryFilter): TradeDeal[] {
    return this.ledger.deals.filter((d) => matches(d, f, d.time_msc)).map((d) => ({ ...d }));
  }

  symbolInfo(symbol: string): SymbolInfo {
    const s = this.specs.get(symbol)!;
    const q = this.quotes.quote(symbol);
    const { startPrice: _p, spreadPoints: _s, weight: _w, ...info } = s;
    return { ...info, sessions: [...s.sessions], bid: q?.bid ?? 0, ask: q?.ask ?? 0, spread: q ? Math.round((q.ask - q.bid) / s.point) : 0 };
  }

  symbolInfoTick(symbol: string): Tick | null {
    return this.quotes.quote(symbol) ?? null;
  }

  accountInfo(): AccountInfo {
    let profit = 0;
    let margin = 0;
    for (const p of this.ledger.positions.values()) {
      this.refresh(p);
      profit += p.profit;
      const s = this.specs.get(p.symbol);
      if (s) margin += this.marginFor(s, p.volume, p.price_open);
    }
    const equity = this.balance + profit;
    return {
      login: 1000001,
      name: 'ea-chaos simulated account',
      server: 'ea-chaos-sim',
      currency: this.currency,
      leverage: this.leverage,
      margin_mode: this.marginMode === 'netting' ? MarginMode.NETTING : MarginMode.HEDGING,
      balance: roundPrice(this.balance, 2),
      equity: roundPrice(equity, 2),
      profit: roundPrice(profit, 2),
      margin: roundPrice(margin, 2),
      margin_free: roundPrice(equity - margin, 2),
      margin_level: margin > 0 ? roundPrice((equity / margin) * 100, 2) : 0,
      trade_allowed: true,
      trade_expert: true,
    };
  }
}
