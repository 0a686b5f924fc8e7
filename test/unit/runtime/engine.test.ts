import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus, type Alert } from '../../../core/events.ts';
import { silentLogger } from '../../../core/log.ts';
import { OrderEngine, type TradeStore } from '../../../runtime/engine.ts';
import { Wake } from '../../../runtime/policy.ts';
import type { BrokerPort } from '../../../runtime/broker.ts';
import { BrokerConnectionError, BrokerTimeoutError } from '../../../simulator/protocol/broker-client.ts';
import type { MqlTradeRequest, MqlTradeResult, SymbolInfo, TradeDeal } from '../../../simulator/protocol/types.ts';
import type { FailedSync } from '../../../runtime/store/rows.ts';

/** The engine's policies on a ManualClock, with a scripted broker and an in-memory store. */
class MemoryStore implements TradeStore {
  failed = new Map<string, FailedSync>();
  async loadOrders() {
    return [];
  }
  async loadDeals() {
    return [];
  }
  async loadPositions() {
    return [];
  }
  async maxRev() {
    return 0;
  }
  async putOrder() {}
  async putDeal() {}
  async putPosition() {}
  async putFailedSync(r: FailedSync) {
    this.failed.set(r.id, r);
  }
  async deleteFailedSync(id: string) {
    this.failed.delete(id);
  }
}

type Answer = MqlTradeResult | Error | 'execute-then-timeout';

class ScriptedBroker implements BrokerPort {
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

function result(retcode: number, o: Partial<MqlTradeResult> = {}): MqlTradeResult {
  return { retcode, deal: 0, order: 0, volume: 0, price: 0, bid: 1.1, ask: 1.10002, comment: String(retcode), request_id: 1, retcode_external: 0, ...o };
}

function setup(answer: (n: number) => Answer) {
  const clock = new ManualClock(1_000_000);
  const events = new EventBus(clock);
  const alerts: Alert[] = [];
  const broker = new ScriptedBroker(clock, answer);
  const store = new MemoryStore();
  const engine = new OrderEngine({
    clock,
    events,
    log: silentLogger,
    notifier: { notify: async (a) => void alerts.push(a) },
    broker,
    duck: store,
    mirrors: [],
    instanceId: 'unit',
    magic: 11,
    backoffMs: [1000, 2000, 4000, 8000, 16000],
    maxAttempts: 5,
    failedSyncRetryMs: 30_000,
    failedSyncMaxAttempts: 5,
    orderTimeoutMs: 2000,
    unknownGraceMs: 500,
    maxRequotes: 3,
  });
  const t0 = clock.now();
  const rel = () => broker.sends.map((s) => s.at - t0);
  return { clock, events, alerts, broker, store, engine, rel };
}

const order = { symbol: 'EURUSD', side: 'buy' as const, volume: 0.01 };

describe('order engine policies on a ManualClock', () => {
  it('transient class: 1→2→4→8→16 s, then failed_syncs every 30 s ×5, then failed + notified', async () => {
    const s = setup(() => result(10024));
    const o = await s.engine.submit(order);
    expect(o.state).toBe('retrying');
    await s.clock.advance(31_000);
    expect(s.rel()).toEqual([0, 1000, 3000, 7000, 15000, 31000]);
    expect([...s.store.failed.values()].map((f) => f.kind)).toEqual(['order']);
    await s.clock.runAll();
    expect(s.rel()).toEqual([0, 1000, 3000, 7000, 15000, 31000, 61000, 91000, 121000, 151000, 181000]);
    expect(s.engine.orders.get(o.clientId)!.state).toBe('failed');
    expect(s.alerts.map((a) => a.code)).toEqual(['order.gave_up']);
    expect(s.store.failed.size).toBe(0);
  });

  it('broker back: the probe wake releases an order waiting out its 16 s step at once', async () => {
    let down = true;
    const s = setup(() => (down ? new BrokerConnectionError('order_send', false) : result(10009)));
    const o = await s.engine.submit(order);
    await s.clock.advance(15_100);
    expect(s.rel()).toEqual([0, 1000, 3000, 7000, 15000]);
    down = false;
    s.broker.wake.fire();
    await s.clock.advance(0);
    expect(s.engine.orders.get(o.clientId)!.state).toBe('filled');
    expect(s.rel().at(-1)).toBe(15_100);
    expect(s.events.since(0).some((e) => e.type === 'order.retry_woken')).toBe(true);
  });

  it('price class: re-price from the requote and resend at once, at most 3 times', async () => {
    const s = setup((n) => (n <= 3 ? result(10004, { bid: 1.2, ask: 1.20002 }) : result(10009)));
    const o = await s.engine.submit(order);
    await s.clock.advance(0);
    expect(s.rel()).toEqual([0, 0, 0, 0]);
    expect(s.broker.sends[1]!.req.price).toBe(1.20002);
    expect(s.engine.orders.get(o.clientId)!.state).toBe('filled');
  });

  it('timeout after execution: unknown, reconciled from the deals, never resent', async () => {
    const s = setup(() => 'execute-then-timeout');
    const o = await s.engine.submit(order);
    await s.clock.runAll();
    const final = s.engine.orders.get(o.clientId)!;
    expect(final.state).toBe('reconciled');
    expect(s.broker.sends.length).toBe(1);
    expect(s.broker.deals.length).toBe(1);
  });

  it('timeout before execution: absent in two look-ups 500 ms apart, then resent once', async () => {
    const s = setup((n) => (n === 1 ? new BrokerTimeoutError('order_send', 2000) : result(10009)));
    const o = await s.engine.submit(order);
    await s.clock.runAll();
    expect(s.engine.orders.get(o.clientId)!.state).toBe('filled');
    expect(s.rel()).toEqual([0, 1500]); // grace 500 ms, then the first backoff step (1 s)
    expect(s.broker.deals.length).toBe(1);
  });

  it('fatal class: no retry, notified at once', async () => {
    const s = setup(() => result(10019));
    const o = await s.engine.submit(order);
    expect(o.state).toBe('rejected');
    await s.clock.runAll();
    expect(s.broker.sends.length).toBe(1);
    expect(s.alerts.map((a) => a.code)).toEqual(['order.fatal']);
  });

  it('invalid volume never reaches the broker', async () => {
    const s = setup(() => result(10009));
    const o = await s.engine.submit({ ...order, volume: 0.015 });
    expect(o.state).toBe('rejected');
    expect(o.retcode).toBe(10014);
    expect(s.broker.sends.length).toBe(0);
    expect(s.alerts.map((a) => a.code)).toEqual(['order.invalid']);
  });
});
