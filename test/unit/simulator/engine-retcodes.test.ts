import { describe, expect, it } from 'vitest';
import { FX_WEEK_SESSIONS } from '../../../simulator/feed/symbols.ts';
import { Retcode } from '../../../simulator/protocol/types.ts';
import { TUESDAY_NOON, buy, makeEngine, sell } from './helpers.ts';

describe('broker engine: fills and slippage', () => {
  it('buys at the ask and sells at the bid (10009) and echoes magic/comment on order, deal, position', () => {
    const { engine } = makeEngine();
    const b = engine.orderSend(buy());
    expect(b).toMatchObject({ retcode: 10009, price: 1.08343, volume: 0.1, bid: 1.0834, ask: 1.08343, request_id: 1 });
    expect(b.deal).toBeGreaterThan(0);
    expect(b.order).toBeGreaterThan(0);
    const s = engine.orderSend(sell({ comment: 'c2' }));
    expect(s).toMatchObject({ retcode: 10009, price: 1.0834 });
    const deal = engine.historyDealsGet({ comment: 'c1' })[0]!;
    expect(deal).toMatchObject({ magic: 7, comment: 'c1', type: 0, entry: 0, price: 1.08343, symbol: 'EURUSD' });
    expect(engine.positionsGet({ comment: 'c1' })[0]).toMatchObject({ magic: 7, volume: 0.1, price_open: 1.08343, type: 0 });
  });

  it('fills at the current price when the move is within deviation (slippage)', () => {
    const { engine, quotes } = makeEngine();
    quotes.set('EURUSD', 1.08343, 1.08346); // ask moved 3 points against the buyer
    const r = engine.orderSend(buy({ deviation: 3 }));
    expect(r.retcode).toBe(10009);
    expect(r.price).toBe(1.08346);
  });

  it('requotes (10004) with the new bid/ask when the move exceeds deviation, and nothing executes', () => {
    const { engine, quotes } = makeEngine();
    quotes.set('EURUSD', 1.08343, 1.08347);
    const r = engine.orderSend(buy({ deviation: 3 }));
    expect(r).toMatchObject({ retcode: 10004, deal: 0, order: 0, bid: 1.08343, ask: 1.08347 });
    expect(engine.ledger.deals).toHaveLength(0);
  });

  it('market execution fills without a price, and answers 10020 when a given price is beyond deviation', () => {
    const { engine } = makeEngine({ symbols: [{ name: 'EURUSD', trade_exemode: 2 }] });
    expect(engine.orderSend(buy({ price: undefined })).retcode).toBe(10009);
    expect(engine.orderSend(buy({ price: 1.0830, deviation: 10 })).retcode).toBe(Retcode.PRICE_CHANGED);
  });
});

describe('broker engine: validation retcodes in MT5 order', () => {
  it('10014 invalid volume: below min, above max, off step', () => {
    const { engine } = makeEngine();
    expect(engine.orderSend(buy({ volume: 0.001 })).retcode).toBe(10014);
    expect(engine.orderSend(buy({ volume: 1000 })).retcode).toBe(10014);
    expect(engine.orderSend(buy({ volume: 0.015 })).retcode).toBe(10014);
    expect(engine.orderSend(buy({ volume: -1 })).retcode).toBe(10014);
  });

  it('10015 invalid price: missing in instant execution, not normalised', () => {
    const { engine } = makeEngine();
    expect(engine.orderSend(buy({ price: undefined })).retcode).toBe(10015);
    expect(engine.orderSend(buy({ price: 1.083431 })).retcode).toBe(10015);
  });

  it('10016 invalid stops: wrong side or inside the stops level', () => {
    const { engine } = makeEngine();
    expect(engine.orderSend(buy({ sl: 1.0835 })).retcode).toBe(10016); // SL above bid for a buy
    expect(engine.orderSend(buy({ sl: 1.08335 })).retcode).toBe(10016); // 5 points < 10-point stops level
    expect(engine.orderSend(buy({ sl: 1.0830, tp: 1.0840 })).retcode).toBe(10009);
  });

  it('10017 trade disabled, 10030 invalid fill', () => {
    const { engine } = makeEngine({ symbols: [{ name: 'EURUSD', trade_mode: 0 }, { name: 'GBPUSD', filling_mode: 1 }] });
    expect(engine.orderSend(buy()).retcode).toBe(10017);
    expect(engine.orderSend(buy({ symbol: 'GBPUSD', price: 1.26508, type_filling: 1 })).retcode).toBe(10030);
    expect(engine.orderSend(buy({ symbol: 'GBPUSD', price: 1.26508, type_filling: 2 })).retcode).toBe(10030);
  });

  it('10018 market closed outside sessions, and open inside them (time from the clock)', async () => {
    const { engine, clock } = makeEngine({ symbols: [{ name: 'EURUSD', sessions: FX_WEEK_SESSIONS }] });
    expect(engine.orderSend(buy()).retcode).toBe(10009); // Tuesday
    await clock.advance(Date.UTC(2026, 10, 28, 12) - TUESDAY_NOON); // Saturday
    expect(engine.orderSend(buy()).retcode).toBe(10018);
    await clock.advance(Date.UTC(2026, 10, 29, 22, 1) - clock.now()); // Sunday 22:01
    expect(engine.orderSend(buy()).retcode).toBe(10009);
  });

  it('10018 inside a marketClosed window knob', async () => {
    const { engine, clock } = makeEngine({ faultsInput: { marketClosed: [{ fromMsc: TUESDAY_NOON + 1000, toMsc: TUESDAY_NOON + 2000 }] } });
    expect(engine.orderSend(buy()).retcode).toBe(10009);
    await clock.advance(1500);
    expect(engine.orderSend(buy()).retcode).toBe(10018);
    await clock.advance(1000);
    expect(engine.orderSend(buy()).retcode).toBe(10009);
  });

  it('10019 no money when margin exceeds free margin', () => {
    const { engine } = makeEngine({ balance: 1000, leverage: 10 });
    expect(engine.orderSend(buy({ volume: 1 })).retcode).toBe(10019);
    expect(engine.orderSend(buy({ volume: 0.01 })).retcode).toBe(10009);
  });

  it('10021 off quotes when there is no quote yet', () => {
    const { engine, quotes } = makeEngine();
    quotes.clear('EURUSD');
    expect(engine.orderSend(buy()).retcode).toBe(10021);
  });

  it('10024 too many requests over the per-second limit, then recovers', async () => {
    const { engine, clock } = makeEngine({ faultsInput: { maxRequestsPerSecond: 2 } });
    expect(engine.orderSend(buy()).retcode).toBe(10009);
    expect(engine.orderSend(buy()).retcode).toBe(10009);
    expect(engine.orderSend(buy()).retcode).toBe(10024);
    await clock.advance(1001);
    expect(engine.orderSend(buy()).retcode).toBe(10009);
  });

  it('connectivity comes first: 10031 beats an invalid volume', () => {
    const { engine } = makeEngine({ faultsInput: { connectionRate: 1 } });
    expect(engine.orderSend(buy({ volume: 0.001 })).retcode).toBe(10031);
  });

  it('validation order: session before volume before price before stops', async () => {
    const { engine } = makeEngine({ symbols: [{ name: 'EURUSD', sessions: [{ day: 0, from_min: 0, to_min: 1 }] }] });
    expect(engine.orderSend(buy({ volume: 0.001, price: 1.083431, sl: 5 })).retcode).toBe(10018);
    const open = makeEngine().engine;
    expect(open.orderSend(buy({ volume: 0.001, price: 1.083431, sl: 5 })).retcode).toBe(10014);
    expect(open.orderSend(buy({ price: 1.083431, sl: 5 })).retcode).toBe(10015);
    expect(open.orderSend(buy({ sl: 5 })).retcode).toBe(10016);
  });

  it('10006 / 10004 / 10021 from the rate knobs, nothing executed', () => {
    for (const [knob, code] of [
      ['rejectRate', 10006],
      ['requoteRate', 10004],
      ['offQuotesRate', 10021],
    ] as const) {
      const { engine } = makeEngine({ faultsInput: { [knob]: 1 } });
      expect(engine.orderSend(buy()).retcode).toBe(code);
      expect(engine.ledger.deals).toHaveLength(0);
    }
  });

  it('10010 partial fill for IOC with the partial knob; FOK always fills whole', () => {
    const { engine } = makeEngine({ faultsInput: { partialFillRate: 1, partialFillRatio: [0.5, 0.5] } });
    const r = engine.orderSend(buy({ volume: 1, type_filling: 1 }));
    expect(r).toMatchObject({ retcode: 10010, volume: 0.5 });
    expect(engine.historyDealsGet({ ticket: r.deal })[0]!.volume).toBe(0.5);
    expect(engine.orderSend(buy({ volume: 1, type_filling: 0 }))).toMatchObject({ retcode: 10009, volume: 1 });
  });

  it('10013 invalid request: unsupported action, unknown position, same-side close', () => {
    const { engine } = makeEngine();
    expect(engine.orderSend({ action: 99 }).retcode).toBe(10013);
    expect(engine.orderSend(sell({ position: 12345 })).retcode).toBe(10013);
    const o = engine.orderSend(buy());
    expect(engine.orderSend(buy({ position: o.order })).retcode).toBe(10013);
  });

  it('10012 timeout before execution executes nothing; after execution the deal exists', () => {
    const before = makeEngine({ faultsInput: { timeoutBeforeExecution: { rate: 1 } } }).engine;
    expect(before.orderSend(buy()).retcode).toBe(10012);
    expect(before.ledger.deals).toHaveLength(0);
    expect(before.ledger.requests[0]).toMatchObject({ retcode: null, outcome: 'timeout_retcode', answered_retcode: 10012 });
    const after = makeEngine({ faultsInput: { timeoutAfterExecution: { rate: 1 } } }).engine;
    expect(after.orderSend(buy()).retcode).toBe(10012);
    expect(after.historyDealsGet({ comment: 'c1' })).toHaveLength(1);
    expect(after.ledger.requests[0]).toMatchObject({ retcode: 10009, outcome: 'timeout_retcode' });
  });
});

describe('broker engine: positions, closes, pending orders', () => {
  it('hedging: each buy opens a position; close by ticket; closing again is 10036', () => {
    const { engine } = makeEngine({ marginMode: 'hedging' });
    const a = engine.orderSend(buy());
    engine.orderSend(buy({ comment: 'c2' }));
    expect(engine.positionsGet({})).toHaveLength(2);
    const close = engine.orderSend(sell({ position: a.order, comment: 'close' }));
    expect(close.retcode).toBe(10009);
    expect(engine.historyDealsGet({ ticket: close.deal })[0]).toMatchObject({ entry: 1, position_id: a.order });
    expect(engine.positionsGet({})).toHaveLength(1);
    expect(engine.orderSend(sell({ position: a.order })).retcode).toBe(10036);
  });

  it('hedging: a close above the position volume is 10014; partial close keeps the rest', () => {
    const { engine } = makeEngine();
    const a = engine.orderSend(buy({ volume: 0.3 }));
    expect(engine.orderSend(sell({ position: a.order, volume: 0.5 })).retcode).toBe(10014);
    expect(engine.orderSend(sell({ position: a.order, volume: 0.1 })).retcode).toBe(10009);
    expect(engine.positionsGet({ ticket: a.order })[0]!.volume).toBe(0.2);
  });

  it('10039 when a second close for the same position arrives while the first is in flight', () => {
    const { engine } = makeEngine();
    const a = engine.orderSend(buy());
    const first = engine.admit(sell({ position: a.order }));
    const second = engine.admit(sell({ position: a.order }));
    expect(engine.execute(second.requestId).retcode).toBe(10039);
    expect(engine.execute(first.requestId).retcode).toBe(10009);
    expect(engine.orderSend(sell({ position: a.order })).retcode).toBe(10036);
  });

  it('netting: one position per symbol, reduce then reverse (entry OUT, INOUT)', () => {
    const { engine, quotes } = makeEngine({ marginMode: 'netting' });
    engine.orderSend(buy({ volume: 0.2 }));
    engine.orderSend(buy({ volume: 0.1 }));
    expect(engine.positionsGet({})).toHaveLength(1);
    expect(engine.positionsGet({})[0]!.volume).toBe(0.3);
    quotes.set('EURUSD', 1.0844, 1.08443);
    const red = engine.orderSend(sell({ volume: 0.1, price: 1.0844 }));
    expect(engine.historyDealsGet({ ticket: red.deal })[0]).toMatchObject({ entry: 1 });
    expect(engine.historyDealsGet({ ticket: red.deal })[0]!.profit).toBeCloseTo(0.1 * 100_000 * (1.0844 - 1.08343), 2);
    const rev = engine.orderSend(sell({ volume: 0.5, price: 1.0844 }));
    expect(engine.historyDealsGet({ ticket: rev.deal })[0]).toMatchObject({ entry: 2 });
    expect(engine.positionsGet({})).toMatchObject([{ type: 1, volume: 0.3, price_open: 1.0844 }]);
    expect(engine.accountInfo().margin_mode).toBe(0);
  });

  it('pending orders: 10008 placed, listed by orders_get, wrong side is 10015, remove is 10009', () => {
    const { engine } = makeEngine();
    const p = engine.orderSend({ action: 5, symbol: 'EURUSD', volume: 0.1, type: 2, price: 1.0800, comment: 'lim' });
    expect(p.retcode).toBe(10008);
    expect(engine.ordersGet({ comment: 'lim' })).toMatchObject([{ ticket: p.order, state: 1, type: 2 }]);
    expect(engine.orderSend({ action: 5, symbol: 'EURUSD', volume: 0.1, type: 2, price: 1.0900 }).retcode).toBe(10015);
    expect(engine.orderSend({ action: 8, order: p.order }).retcode).toBe(10009);
    expect(engine.ordersGet({})).toHaveLength(0);
    expect(engine.historyOrdersGet({ comment: 'lim' })[0]!.state).toBe(2);
  });

  it('SLTP modifies a position and validates stops', () => {
    const { engine } = makeEngine();
    const a = engine.orderSend(buy());
    expect(engine.orderSend({ action: 6, position: a.order, sl: 1.0850 }).retcode).toBe(10016);
    expect(engine.orderSend({ action: 6, position: a.order, sl: 1.0800, tp: 1.0900 }).retcode).toBe(10009);
    expect(engine.positionsGet({ ticket: a.order })[0]).toMatchObject({ sl: 1.08, tp: 1.09 });
  });

  it('order_check predicts without executing', () => {
    const { engine } = makeEngine();
    expect(engine.orderCheck(buy()).retcode).toBe(0);
    expect(engine.orderCheck(buy({ volume: 0.001 })).retcode).toBe(10014);
    expect(engine.ledger.deals).toHaveLength(0);
    expect(engine.ledger.requests).toHaveLength(0);
  });
});

describe('broker engine: reconciliation and duplicates', () => {
  it('history_deals_get filters by symbol, magic, comment and time range', async () => {
    const { engine, clock } = makeEngine();
    engine.orderSend(buy({ comment: 'a', magic: 1 }));
    await clock.advance(1000);
    engine.orderSend(buy({ comment: 'b', magic: 2 }));
    engine.orderSend(buy({ symbol: 'GBPUSD', price: 1.26508, comment: 'b', magic: 2 }));
    expect(engine.historyDealsGet({ comment: 'b' })).toHaveLength(2);
    expect(engine.historyDealsGet({ comment: 'b', symbol: 'GBPUSD' })).toHaveLength(1);
    expect(engine.historyDealsGet({ magic: 1 })).toHaveLength(1);
    expect(engine.historyDealsGet({ from_msc: TUESDAY_NOON, to_msc: TUESDAY_NOON + 1000 })).toHaveLength(1);
    expect(engine.historyDealsGet({ from_msc: TUESDAY_NOON + 1000 })).toHaveLength(2);
    expect(engine.positionsGet({ magic: 2 })).toHaveLength(2);
  });

  it('without dedupe a resent order creates a second deal (as on MT5)', () => {
    const { engine } = makeEngine();
    expect(engine.orderSend(buy({ comment: 'sig-1' })).retcode).toBe(10009);
    expect(engine.orderSend(buy({ comment: 'sig-1' })).retcode).toBe(10009);
    expect(engine.ledger.summary().deals_by_comment['sig-1']).toBe(2);
  });

  it('with dedupe a resent order is rejected (10006) naming the original, and nothing executes', () => {
    const { engine } = makeEngine({ dedupe: true });
    const first = engine.orderSend(buy({ comment: 'sig-1' }));
    const again = engine.orderSend(buy({ comment: 'sig-1' }));
    expect(again).toMatchObject({ retcode: 10006, deal: 0, comment: `duplicate of order ${first.order}` });
    expect(engine.ledger.summary().deals_by_comment['sig-1']).toBe(1);
    // Other magic or comment is not a duplicate; closes are never duplicates.
    expect(engine.orderSend(buy({ comment: 'sig-1', magic: 8 })).retcode).toBe(10009);
    expect(engine.orderSend(sell({ comment: 'sig-1', position: first.order })).retcode).toBe(10009);
  });
});
