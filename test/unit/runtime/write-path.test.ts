import { describe, expect, it } from 'vitest';
import { engineOn, MemoryStore, result, ScriptedBroker } from './fakes.ts';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import type { TradeStore } from '../../../runtime/engine.ts';
import type { MqlTradeRequest } from '../../../simulator/protocol/types.ts';
import type { WriteHint } from '../../../runtime/store/duckdb.ts';
import type { OrderRow } from '../../../runtime/store/rows.ts';

/**
 * The intent write path: an order leaves for the broker only after the store says its intent is
 * committed, however the store batches. The store here holds every awaited write until the test
 * commits it, so the ordering is checked at each step rather than hoped for.
 */
class GatedStore extends MemoryStore {
  held: { row: OrderRow; hint?: WriteHint; commit: () => void; fail: (e: Error) => void }[] = [];
  committed = new Set<string>();
  lazy: { row: OrderRow; hint?: WriteHint }[] = [];
  override putOrder(row: OrderRow, hint?: WriteHint): Promise<void> {
    if (hint?.lazy) {
      this.lazy.push({ row, hint });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.held.push({
        row,
        hint,
        commit: () => {
          this.committed.add(row.clientId);
          resolve();
        },
        fail: reject,
      });
    });
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

function setup(store: TradeStore) {
  const clock = new ManualClock(1_000_000);
  const broker = new ScriptedBroker(clock, () => result(10009));
  const events = new EventBus(clock);
  const engine = engineOn(clock, broker, store, events);
  return { clock, broker, engine, events };
}

describe('intent write path', () => {
  it('never sends an order before its intent is committed, whatever order the commits complete in', async () => {
    const store = new GatedStore();
    const { broker, engine } = setup(store);
    await engine.warmSpec('EURUSD');
    const seenAtSend: boolean[] = [];
    const send = broker.orderSend.bind(broker);
    broker.orderSend = async (req: MqlTradeRequest) => {
      seenAtSend.push(store.committed.has(String(req.comment)));
      return send(req);
    };
    const done = Array.from({ length: 20 }, (_, i) => engine.submit({ symbol: 'EURUSD', side: i % 2 ? 'buy' : 'sell', volume: 0.01, price: 1.1 }));
    await settle();
    expect(store.held).toHaveLength(20);
    expect(broker.sends).toHaveLength(0);
    // Commit them in reverse order, one at a time: exactly the committed ones may have left.
    for (let k = store.held.length - 1; k >= 0; k--) {
      store.held[k]!.commit();
      await settle();
      expect(broker.sends).toHaveLength(20 - k);
    }
    await Promise.all(done);
    expect(seenAtSend).toHaveLength(20);
    expect(seenAtSend.every(Boolean)).toBe(true);
    // Intents are awaited first rows (a plain INSERT); outcomes are lazy, nobody waits on them.
    expect(store.held.every((h) => h.hint?.fresh === true && !h.hint?.lazy)).toBe(true);
    expect(store.lazy.length).toBeGreaterThanOrEqual(20);
    expect(store.lazy.every((l) => JSON.parse(l.row.data).state === 'filled')).toBe(true);
    await engine.stop();
  });

  it('an intent whose commit fails is never sent', async () => {
    const store = new GatedStore();
    const { broker, engine } = setup(store);
    await engine.warmSpec('EURUSD');
    const p = engine.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01, price: 1.1 });
    await settle();
    store.held[0]!.fail(new Error('disk full'));
    await expect(p).rejects.toThrow('disk full');
    await settle();
    expect(broker.sends).toHaveLength(0);
    await engine.stop();
  });

  it('announces `persisted` only once the commit is durable, and never for an intent whose commit failed', async () => {
    const store = new GatedStore();
    const { engine, events } = setup(store);
    await engine.warmSpec('EURUSD');
    const persisted: string[] = [];
    events.subscribe((e) => {
      if (e.type === 'order.state' && e.data?.['to'] === 'persisted') persisted.push(String(e.data['clientId']));
    });
    const ok = engine.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01, price: 1.1 });
    const bad = engine.submit({ symbol: 'EURUSD', side: 'sell', volume: 0.01, price: 1.1 });
    await settle();
    expect(store.held).toHaveLength(2);
    // The harness counts `persisted` as acceptance: before the commit nothing may claim it.
    expect(persisted).toEqual([]);
    store.held[0]!.commit();
    await settle();
    expect(persisted).toEqual([store.held[0]!.row.clientId]);
    store.held[1]!.fail(new Error('disk full'));
    await expect(bad).rejects.toThrow('disk full');
    await ok;
    expect(persisted).toEqual([store.held[0]!.row.clientId]);
    await engine.stop();
  });
});
