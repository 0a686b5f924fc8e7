import type { ManualClock } from '../../../core/clock.ts';
import type { BrokerPort } from '../../../runtime/broker.ts';
import type { EventBus } from '../../../core/events.ts';
import { OrderEngine, type EngineOptions, type StateMirror, type TradeStore } from '../../../runtime/engine.ts';
import { silentLogger } from '../../../core/log.ts';
import { Wake } from '../../../runtime/policy.ts';
import { BrokerTimeoutError } from '../../../simulator/protocol/broker-client.ts';
import type { MqlTradeRequest, MqlTradeResult, SymbolInfo, TradeDeal } from '../../../simulator/protocol/types.ts';
import type { DealRow, FailedSync, OrderRow, PositionRow } from '../../../runtime/store/rows.ts';

/**
 * Fakes for the pure-logic engine tests (ManualClock only). The integration
 * tests run the same engine against the real simulated broker and DuckDB.
 */
export type Answer = MqlTradeResult | Error | 'execute-then-timeout';

export function result(retcode: number, o: Partial<MqlTradeResult> = {}): MqlTradeResult {
  return { retcode, deal: 0, order: 0, volume: 0, price: 0, bid: 1.1, ask: 1.10002, comment: String(retcode), request_id: 1, retcode_external: 0, ...o };
}

/** Answers each send by its 1-based number; 10009 executes, 'execute-then-timeout' executes and loses the answer. */
export class ScriptedBroker implements BrokerPort {
  readonly wake = new Wake();
  status: 'up' | 'down' = 'up';
  sends: { at: number; req: MqlTradeRequest }[] = [];
  deals: TradeDeal[] = [];
  constructor(
    private readonly clock: ManualClock,
    public answer: (n: number) => Answer,
  ) {}
  private execute(req: MqlTradeRequest): MqlTradeResult {
    const ticket = this.deals.length + 1;
    this.deals.push({ ticket, order: ticket, time: 0, time_msc: this.clock.now(), type: req.type ?? 0, entry: 0, magic: req.magic ?? 0, reason: 3, position_id: ticket, volume: req.volume ?? 0, price: req.price ?? 0, commission: 0, swap: 0, profit: 0, fee: 0, symbol: req.symbol ?? '', comment: req.comment ?? '', external_id: '' });
    return result(10009, { deal: ticket, order: ticket, volume: req.volume ?? 0, price: req.price ?? 0 });
  }
  async orderSend(req: MqlTradeRequest): Promise<MqlTradeResult> {
    this.sends.push({ at: this.clock.now(), req });
    const a = this.answer(this.sends.length);
    if (a === 'execute-then-timeout') {
      this.execute(req);
      throw new BrokerTimeoutError('order_send', 2000);
    }
    if (a instanceof Error) throw a;
    if (a.retcode === 10009) return this.execute(req);
    return a;
  }
  async historyDeals(f: { comment?: string }) {
    return this.deals.filter((d) => f.comment === undefined || d.comment === f.comment);
  }
  async orders() {
    return [];
  }
  async positions() {
    return [];
  }
  async symbolInfo(): Promise<SymbolInfo> {
    return { name: 'EURUSD', digits: 5, point: 0.00001, trade_tick_size: 0.00001, trade_contract_size: 100000, volume_min: 0.01, volume_max: 100, volume_step: 0.01, trade_stops_level: 0, trade_freeze_level: 0, trade_mode: 4, trade_exemode: 1, filling_mode: 3, currency_base: 'EUR', currency_profit: 'USD', bid: 1.1, ask: 1.10002, spread: 2, sessions: [] };
  }
  async tick() {
    return { stream: 'EURUSD', seq: 1, epoch: 1, symbol: 'EURUSD', bid: 1.1, ask: 1.10002, last: 0, volume: 0, volume_real: 0, time_msc: 0, flags: 6 };
  }
}

/** The seed's §3.1 tuning at full scale, so the policies run their real intervals on the ManualClock. */
export const SEED_ENGINE_TUNING = {
  log: silentLogger,
  mirrors: [] as StateMirror[],
  instanceId: 'unit',
  magic: 11,
  backoffMs: [1000, 2000, 4000, 8000, 16000],
  maxAttempts: 5,
  failedSyncRetryMs: 30_000,
  failedSyncMaxAttempts: 5,
  orderTimeoutMs: 2000,
  unknownGraceMs: 500,
  maxRequotes: 3,
} satisfies Partial<EngineOptions>;

/** Trade state in memory: it outlives an engine, as the DuckDB file outlives a killed process. */
export class MemoryStore implements TradeStore {
  orders = new Map<string, OrderRow>();
  failed = new Map<string, FailedSync>();
  async loadOrders() {
    return [...this.orders.values()];
  }
  async loadDeals(): Promise<DealRow[]> {
    return [];
  }
  async loadPositions(): Promise<PositionRow[]> {
    return [];
  }
  async maxRev() {
    return Math.max(0, ...[...this.orders.values()].map((o) => o.rev));
  }
  putOrder(r: OrderRow, _hint?: unknown): Promise<void> {
    this.orders.set(r.clientId, r);
    return Promise.resolve();
  }
  async putDeal() {}
  async putPosition() {}
  async putFailedSync(r: FailedSync) {
    this.failed.set(r.id, r);
  }
  async deleteFailedSync(id: string) {
    this.failed.delete(id);
  }
  async loadFailedSyncs(kind?: FailedSync['kind']) {
    return [...this.failed.values()].filter((r) => !kind || r.kind === kind);
  }
}

/** An engine with the seed's tuning over the fakes. */
export function engineOn(clock: ManualClock, broker: BrokerPort, store: TradeStore, events: EventBus, notify: EngineOptions['notifier']['notify'] = async () => {}): OrderEngine {
  return new OrderEngine({ clock, events, notifier: { notify }, broker, duck: store, ...SEED_ENGINE_TUNING });
}
