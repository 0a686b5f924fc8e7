import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import type { QueryFilter, TradeDeal } from '../../../simulator/protocol/types.ts';
import { engineOn, MemoryStore, result, ScriptedBroker } from './fakes.ts';

/** Answers deal queries with the broker's half-open [from_msc, to_msc) filter, and records them. */
class TimedBroker extends ScriptedBroker {
  queries: QueryFilter[] = [];
  override async historyDeals(f: QueryFilter): Promise<TradeDeal[]> {
    this.queries.push(f);
    return this.deals.filter((d) => (f.magic === undefined || d.magic === f.magic) && (f.from_msc === undefined || d.time_msc >= f.from_msc) && (f.to_msc === undefined || d.time_msc < f.to_msc));
  }
}

function deal(ticket: number, timeMsc: number, comment: string, magic: number): TradeDeal {
  return { ticket, order: ticket, time: 0, time_msc: timeMsc, type: 0, entry: 0, magic, reason: 3, position_id: ticket, volume: 0.01, price: 1.1, commission: 0, swap: 0, profit: 0, fee: 0, symbol: 'EURUSD', comment, external_id: '' };
}

/** A periodic pass over deals the engine never placed (the tail of a lost WAL): each must be adopted once. */
async function pass(windowMs: number, offsets: number[]) {
  const clock = new ManualClock(10_000_000);
  const broker = new TimedBroker(clock, () => result(10009));
  const events = new EventBus(clock);
  const engine = engineOn(clock, broker, new MemoryStore(), events);
  const tag = (engine as unknown as { ids: { tag: string } }).ids.tag;
  const now = clock.now();
  const since = now - windowMs;
  broker.deals = offsets.map((o, i) => deal(i + 1, since + o, `${tag}.lost.${i}`, 11));
  const r = await engine.reconcile({ sinceMsc: since });
  const adopted = events.since(0).filter((e) => e.type === 'reconcile.order_adopted').map((e) => String(e.data?.clientId));
  await engine.stop();
  return { r, adopted, queries: broker.queries, since, now, deals: broker.deals };
}

describe('periodic reconciliation asks for deals in time slices', () => {
  it('splits a 3 s window into 200 ms slices that partition [since, ∞)', async () => {
    const p = await pass(3000, [0, 1, 199, 200, 201, 1500, 2999, 3000, 4500]);
    expect(p.queries.length).toBe(15);
    expect(p.queries[0]!.from_msc).toBe(p.since);
    for (let i = 1; i < p.queries.length; i++) expect(p.queries[i]!.from_msc).toBe(p.queries[i - 1]!.to_msc);
    expect(p.queries.at(-1)!.to_msc).toBeUndefined();
    // Every deal at or after `since` once, including the one after "now" (the broker's clock may run ahead).
    expect(p.adopted.sort()).toEqual(p.deals.map((d) => d.comment).sort());
    expect(p.r.adopted).toBe(9);
  });

  it('keeps a long window (after an outage) to at most 20 slices plus the open end', async () => {
    const p = await pass(3_600_000, [0, 1_000_000, 3_599_999]);
    expect(p.queries.length).toBeLessThanOrEqual(21);
    expect(p.adopted.length).toBe(3);
  });

  it('returns exactly what one query would, whatever the window and the deal times (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.array(fc.integer({ min: -500, max: 120_000 }), { maxLength: 60 }), async (windowMs, offsets) => {
        const p = await pass(windowMs, offsets);
        const expected = p.deals.filter((d) => d.time_msc >= p.since).map((d) => d.comment);
        expect(p.adopted.sort()).toEqual(expected.sort());
      }),
      { numRuns: 60 },
    );
  });
});
