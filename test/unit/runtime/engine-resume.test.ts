import { describe, expect, it } from 'vitest';
import { engineOn, MemoryStore, result, ScriptedBroker } from './fakes.ts';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';

/** Park an order, let one failed_syncs round run, then stop the engine as a kill would leave it. */
async function parkOneRoundThenKill() {
  const clock = new ManualClock(1_000_000);
  const t0 = clock.now();
  const broker = new ScriptedBroker(clock, () => result(10024, { comment: 'too many requests' }));
  const store = new MemoryStore();
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
    expect(k.broker.sends.map((s) => s.at - k.t0)).toEqual([0, 1000, 3000, 7000, 15000, 31000, 61000]);
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
    const rel = k.broker.sends.map((s) => s.at - k.t0);
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
    k.broker.answer = () => result(10009);
    const e2 = engineOn(k.clock, k.broker, k.store, new EventBus(k.clock));
    await e2.load();
    const rec = e2.reconcile({ startup: true });
    await k.clock.advance(600);
    await rec;
    await k.clock.advance(28_400); // to 90.5 s: not due yet
    expect(k.broker.sends.length).toBe(7);
    await k.clock.advance(1_000);
    expect(k.broker.sends.map((s) => s.at - k.t0).at(-1)).toBe(91_000);
    expect(e2.orders.get(k.clientId)!.state).toBe('filled');
    expect(k.store.failed.size).toBe(0);
    await e2.stop();
  });
});
