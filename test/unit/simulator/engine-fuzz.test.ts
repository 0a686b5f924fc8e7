import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TradeRequestSchema } from '../../../simulator/broker/requests.ts';
import type { MqlTradeRequest } from '../../../simulator/protocol/types.ts';
import { makeEngine } from './helpers.ts';

const price = fc.oneof(fc.constantFrom(1.0834, 1.08343, 1.08, 1.09, 1.265, 1.26508, 0, 151.204), fc.double({ min: 0, max: 200, noNaN: true }));
const request: fc.Arbitrary<MqlTradeRequest> = fc.record(
  {
    action: fc.constantFrom(1, 1, 1, 5, 6, 7, 8, 3),
    symbol: fc.constantFrom('EURUSD', 'GBPUSD', 'USDJPY'),
    volume: fc.oneof(fc.constantFrom(0.01, 0.1, 0.5, 1, 0.015, 0, 200), fc.double({ min: -1, max: 10, noNaN: true })),
    type: fc.integer({ min: -1, max: 8 }),
    price,
    deviation: fc.integer({ min: 0, max: 100_000 }),
    sl: price,
    tp: price,
    type_filling: fc.integer({ min: 0, max: 3 }),
    magic: fc.integer({ min: 0, max: 3 }),
    comment: fc.constantFrom('', 'a', 'b'),
    position: fc.integer({ min: 0, max: 30 }),
    order: fc.integer({ min: 0, max: 30 }),
  },
  { requiredKeys: ['action'] },
);

describe('broker engine under arbitrary well-typed requests', () => {
  it('never throws, always answers a known retcode, and keeps the ledger consistent', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 40 }), fc.boolean(), (reqs, netting) => {
        const { engine } = makeEngine({ marginMode: netting ? 'netting' : 'hedging', faultsInput: { partialFillRate: 0.3 } });
        for (const r of reqs) {
          expect(TradeRequestSchema.safeParse(r).success).toBe(true);
          const res = engine.orderSend(r);
          expect(res.retcode).toBeGreaterThanOrEqual(10004);
          expect(res.retcode).toBeLessThanOrEqual(10039);
          if (res.deal) expect(engine.ledger.deals.some((d) => d.ticket === res.deal)).toBe(true);
        }
        const L = engine.ledger;
        expect(L.requests.length).toBe(reqs.length);
        for (const p of L.positions.values()) expect(p.volume).toBeGreaterThan(0);
        if (netting) expect(new Set([...L.positions.values()].map((p) => p.symbol)).size).toBe(L.positions.size);
        for (const d of L.deals) expect(L.orders.has(d.order)).toBe(true);
        // Net open volume per symbol equals the signed sum of deals.
        for (const sym of ['EURUSD', 'GBPUSD', 'USDJPY']) {
          const fromDeals = L.deals.filter((d) => d.symbol === sym).reduce((a, d) => a + (d.type === 0 ? d.volume : -d.volume), 0);
          const open = [...L.positions.values()].filter((p) => p.symbol === sym).reduce((a, p) => a + (p.type === 0 ? p.volume : -p.volume), 0);
          expect(open).toBeCloseTo(fromDeals, 6);
        }
      }),
      { numRuns: 300 },
    );
  });
});
