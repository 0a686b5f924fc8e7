import { describe, expect, it } from 'vitest';
import { engineOn, MemoryStore, result, ScriptedBroker, type Answer } from './fakes.ts';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus, type Alert } from '../../../core/events.ts';
import { BrokerConnectionError, BrokerTimeoutError } from '../../../simulator/protocol/broker-client.ts';

/** The engine's policies on a ManualClock, with a scripted broker and an in-memory store. */
function setup(answer: (n: number) => Answer) {
  const clock = new ManualClock(1_000_000);
  const events = new EventBus(clock);
  const alerts: Alert[] = [];
  const broker = new ScriptedBroker(clock, answer);
  const store = new MemoryStore();
  const engine = engineOn(clock, broker, store, events, async (a) => void alerts.push(a));
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
