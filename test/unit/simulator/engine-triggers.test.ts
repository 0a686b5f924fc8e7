import { describe, expect, it } from 'vitest';
import type { Tick } from '../../../simulator/protocol/types.ts';
import { buy, makeEngine, sell } from './helpers.ts';

const tick = (bid: number, ask: number, symbol = 'EURUSD'): Tick => ({ stream: symbol, seq: 1, epoch: 1, symbol, bid, ask, last: 0, volume: 0, volume_real: 0, time_msc: 0, flags: 6 });

describe('server-side triggers on quotes', () => {
  it('SL closes a buy at the bid with reason 4 and an MT5-style comment; TP closes a sell with reason 5', () => {
    const { engine, quotes } = makeEngine();
    const b = engine.orderSend(buy({ sl: 1.083, tp: 1.09 }));
    const s = engine.orderSend(sell({ sl: 1.09, tp: 1.08, comment: 'c2' }));
    engine.onQuote(tick(1.0832, 1.08323)); // neither hit
    expect(engine.positionsGet({})).toHaveLength(2);
    quotes.set('EURUSD', 1.08299, 1.08302);
    engine.onQuote(tick(1.08299, 1.08302)); // buy SL (bid <= 1.083)
    expect(engine.positionsGet({ ticket: b.order })).toHaveLength(0);
    const slDeal = engine.historyDealsGet({ position: b.order }).find((d) => d.entry === 1)!;
    expect(slDeal).toMatchObject({ reason: 4, price: 1.08299, comment: '[sl 1.08300]', magic: 7 });
    engine.onQuote(tick(1.07995, 1.07998)); // sell TP (ask <= 1.08)
    expect(engine.historyDealsGet({ position: s.order }).find((d) => d.entry === 1)).toMatchObject({ reason: 5, price: 1.07998 });
    expect(engine.positionsGet({})).toHaveLength(0);
  });

  it('pending orders fill when the price reaches them, keeping magic and comment', () => {
    const { engine } = makeEngine();
    const lim = engine.orderSend({ action: 5, symbol: 'EURUSD', volume: 0.2, type: 2, price: 1.08, magic: 9, comment: 'lim' });
    const stp = engine.orderSend({ action: 5, symbol: 'EURUSD', volume: 0.1, type: 5, price: 1.07, comment: 'stp' });
    engine.onQuote(tick(1.0801, 1.08013));
    expect(engine.ordersGet({})).toHaveLength(2);
    engine.onQuote(tick(1.07997, 1.08)); // BUY_LIMIT: ask <= 1.08
    expect(engine.ordersGet({})).toHaveLength(1);
    expect(engine.positionsGet({ ticket: lim.order })[0]).toMatchObject({ magic: 9, comment: 'lim', volume: 0.2, price_open: 1.08, type: 0 });
    expect(engine.historyOrdersGet({ ticket: lim.order })[0]!.state).toBe(4);
    engine.onQuote(tick(1.06999, 1.07002)); // SELL_STOP: bid <= 1.07
    expect(engine.positionsGet({ ticket: stp.order })[0]).toMatchObject({ type: 1, price_open: 1.06999 });
    expect(engine.historyDealsGet({ comment: 'stp' })).toHaveLength(1);
  });

  it('nothing triggers while the market is closed', async () => {
    const { engine, clock } = makeEngine({ faultsInput: { marketClosed: [{ fromMsc: 0, toMsc: Date.UTC(2030, 0, 1) }] } });
    void clock;
    engine.faults = { ...engine.faults, marketClosed: [] };
    const b = engine.orderSend(buy({ sl: 1.083 }));
    engine.faults = { ...engine.faults, marketClosed: [{ fromMsc: 0, toMsc: Date.UTC(2030, 0, 1) }] };
    engine.onQuote(tick(1.07, 1.07003));
    expect(engine.positionsGet({ ticket: b.order })).toHaveLength(1);
  });
});
