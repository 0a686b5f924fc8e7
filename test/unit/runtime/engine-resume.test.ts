import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import { silentLogger } from '../../../core/log.ts';
import type { BrokerPort } from '../../../runtime/broker.ts';
import { OrderEngine, type TradeStore } from '../../../runtime/engine.ts';
import { Wake } from '../../../runtime/policy.ts';
import type { DealRow, FailedSync, OrderRow, PositionRow } from '../../../runtime/store/rows.ts';
import type { MqlTradeRequest, MqlTradeResult, SymbolInfo, TradeDeal } from '../../../simulator/protocol/types.ts';

/** A store that outlives an engine, as the DuckDB file outlives a killed process. */
class DurableMemoryStore implements TradeStore {
  orders = new Map<string, OrderRow>();
  failed = new Map<string, FailedSync>();
  failedWrites: FailedSync[] = [];
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
  async putOrder(r: OrderRow) {
    this.orders.set(r.clientId, r);
  }
  async putDeal() {}
  async putPosition() {}
  async putFailedSync(r: FailedSync) {
    this.failed.set(r.id, r);
    this.failedWrites.push(r);
  }
  async deleteFailedSync(id: string) {
    this.failed.delete(id);
  }
  async loadFailedSyncs(kind?: FailedSync['kind']) {
    return [...this.failed.values()].filter((r) => !kind || r.kind === kind);
  }
}

/** Refuses with 10024 (backoff class) until `accept` is set, then fills. */
class RefusingBroker implements BrokerPort {
  readonly wake = new Wake();
  status: 'up' | 'down' = 'up';
  accept = false;
  sends: number[] = [];
  deals: TradeDeal[] = [];
  constructor(private readonly clock: ManualClock) {}
  async orderSend(req: MqlTradeRequest): Promise<MqlTradeResult> {
    this.sends.push(this.clock.now());
    const base = { deal: 0, order: 0, volume: 0, price: 0, bid: 1.1, ask: 1.10002, request_id: 1, retcode_external: 0 };
    if (!this.accept) return { ...base, retcode: 10024, comment: 'too many requests' };
    const ticket = this.deals.length + 1;
    this.deals.push({ ticket, order: ticket, time: 0, time_msc: this.clock.now(), type: 0, entry: 0, magic: req.magic ?? 0, reason: 3, position_id: ticket, volume: req.volume ?? 0, price: req.price ?? 0, commission: 0, swap: 0, profit: 0, fee: 0, symbol: req.symbol ?? '', comment: req.comment ?? '', external_id: '' });
    return { ...base, retcode: 10009, deal: ticket, order: ticket, volume: req.volume ?? 0, price: req.price ?? 0, comment: 'done' };
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

function engineOn(clock: ManualClock, broker: RefusingBroker, store: DurableMemoryStore, events: EventBus): OrderEngine {
  return new OrderEngine({
    clock,
    events,
    log: silentLogger,
    notifier: { notify: async () => {} },
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
}

/** Park an order, let one failed_syncs round run, then stop the engine as a kill would leave it. */
async function parkOneRoundThenKill() {
  const clock = new ManualClock(1_000_000);
  const t0 = clock.now();
  const broker = new RefusingBroker(clock);
  const store = new DurableMemoryStore();
  const first = new EventBus(clock);
  const e1 = engineOn(clock, broker, store, first);
  const o = await e1.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01 });
  await clock.advance(61_500); // backoff sends 0,1,3,7,15,31 s; parked at 31 s; round 1 at 61 s
  const row = [...store.failed.values()][0]!;
  await e1.stop();
  return { clock, t0, broker, store, clientId: o.clientId, rowBeforeKill: row };
}

describe('failed_syncs rounds survive a restart (ManualClock)', () => {
  it('persists the rounds done and the next due time before each round', async () => {
    const k = await parkOneRoundThenKill();
    expect(k.broker.sends.map((t) => t - k.t0)).toEqual([0, 1000, 3000, 7000, 15000, 31000, 61000]);
    expect(k.rowBeforeKill.attempts).toBe(1);
    expect(JSON.parse(k.rowBeforeKill.payload)).toEqual({ symbol: 'EURUSD', nextDueAt: k.t0 + 91_000 });
    // The stop (like a SIGKILL) leaves the row in place for the next process.
    expect(k.store.failed.size).toBe(1);
  });

  it('a restarted engine resumes at the due round instead of restarting the 1-2-4-8-16 s backoff', async () => {
    const k = await parkOneRoundThenKill();
    const events = new EventBus(k.clock);
    const e2 = engineOn(k.clock, k.broker, k.store, events);
    await e2.load();
    // Start-up reconciliation proves the order absent in two look-ups 500 ms apart on the clock.
    const rec = e2.reconcile({ startup: true });
    await k.clock.advance(600);
    await rec;
    await k.clock.runAll();
    const rel = k.broker.sends.map((t) => t - k.t0);
    // Rounds 2-5 at 91, 121, 151, 181 s: five rounds in all, as without the restart.
    expect(rel).toEqual([0, 1000, 3000, 7000, 15000, 31000, 61000, 91000, 121000, 151000, 181000]);
    const mine = events.since(0).filter((e) => e.data?.clientId === k.clientId);
    expect(mine.filter((e) => e.type === 'order.retry')).toEqual([]);
    expect(mine.find((e) => e.type === 'order.failed_sync_resumed')?.data).toMatchObject({ attempts: 1 });
    expect(mine.filter((e) => e.type === 'order.failed_sync_retry').map((e) => e.data?.attempt)).toEqual([2, 3, 4, 5]);
    expect(e2.orders.get(k.clientId)!.state).toBe('failed');
    expect(k.store.failed.size).toBe(0);
    await e2.stop();
  });

  it('the resumed order fills at its due round once the broker accepts, and its row is dropped', async () => {
    const k = await parkOneRoundThenKill();
    k.broker.accept = true;
    const e2 = engineOn(k.clock, k.broker, k.store, new EventBus(k.clock));
    await e2.load();
    const rec = e2.reconcile({ startup: true });
    await k.clock.advance(600);
    await rec;
    await k.clock.advance(28_400); // to 90.5 s: not due yet
    expect(k.broker.sends.length).toBe(7);
    await k.clock.advance(1_000);
    expect(k.broker.sends.map((t) => t - k.t0).at(-1)).toBe(91_000);
    expect(e2.orders.get(k.clientId)!.state).toBe('filled');
    expect(k.store.failed.size).toBe(0);
    await e2.stop();
  });
});
