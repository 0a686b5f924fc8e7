import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../../../core/random.ts';

describe('seeded Random', () => {
  it('the same seed gives the same sequence', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const a = createRandom(seed);
        const b = createRandom(seed);
        for (let i = 0; i < 20; i++) expect(a.next()).toBe(b.next());
      }),
      { numRuns: 50 },
    );
  });
  it('different seeds differ', () => {
    const a = Array.from({ length: 8 }, ((r) => () => r.next())(createRandom(1)));
    const b = Array.from({ length: 8 }, ((r) => () => r.next())(createRandom(2)));
    expect(a).not.toEqual(b);
  });
  it('forks are independent of draws on the parent and reproducible', () => {
    const r1 = createRandom(7);
    const f1 = r1.fork('broker');
    const r2 = createRandom(7);
    r2.next();
    r2.next();
    const f2 = r2.fork('broker');
    expect([f1.next(), f1.next()]).toEqual([f2.next(), f2.next()]);
    expect(createRandom(7).fork('feed').next()).not.toBe(createRandom(7).fork('broker').next());
  });
  it('next() is in [0,1) and int() within bounds', () => {
    const r = createRandom(42);
    for (let i = 0; i < 10_000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      const n = r.int(-3, 3);
      expect(n >= -3 && n <= 3 && Number.isInteger(n)).toBe(true);
    }
  });
  it('chance(p) is roughly p', () => {
    const r = createRandom(3);
    let hits = 0;
    for (let i = 0; i < 20_000; i++) if (r.chance(0.3)) hits++;
    expect(hits / 20_000).toBeGreaterThan(0.28);
    expect(hits / 20_000).toBeLessThan(0.32);
  });
});
