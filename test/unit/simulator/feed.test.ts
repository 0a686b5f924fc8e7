import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { TickGenerator } from '../../../simulator/feed/generator.ts';
import { FX_WEEK_SESSIONS, resolveSymbols, roundPrice } from '../../../simulator/feed/symbols.ts';
import type { Tick } from '../../../simulator/protocol/types.ts';

function run(seed: number, ms: number, rate = 200) {
  const clock = new ManualClock(Date.UTC(2026, 10, 24, 12));
  const gen = new TickGenerator({ symbols: resolveSymbols(), ticksPerSecond: rate, epoch: 3, clock, random: createRandom(seed) });
  const out: Tick[] = [];
  gen.onBatch((b) => out.push(...b));
  gen.prime();
  gen.start();
  return clock.advance(ms).then(() => {
    gen.stop();
    return out;
  });
}

describe('tick generator', () => {
  it('same seed and clock give the same ticks; another seed differs', async () => {
    const a = await run(7, 2000);
    const b = await run(7, 2000);
    const c = await run(8, 2000);
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('seed 7 gives the very ticks it gave before the per-tick allocations were cut (golden digest)', async () => {
    // Prices come from integer points divided by 10^digits, no longer through toFixed strings; this pins
    // that the numbers did not change (digest taken with the string version).
    const clock = new ManualClock(Date.UTC(2026, 10, 24, 12));
    const gen = new TickGenerator({ symbols: resolveSymbols(['EURUSD', 'USDJPY', 'XAUUSD', 'GBPUSD']), ticksPerSecond: 2000, epoch: 3, clock, random: createRandom(7) });
    const out: Tick[] = [];
    gen.onBatch((b) => out.push(...b));
    gen.prime();
    gen.start();
    await clock.advance(3000);
    gen.stop();
    expect(out).toHaveLength(3156);
    expect(createHash('sha256').update(JSON.stringify(out)).digest('hex')).toBe('1e5b8c20f3f3f0221a6d6b997102b5437f861800215143df59a2dbaba617ebb7');
  });

  it('property: points / 10^digits is exactly the decimal price the string rounding gave', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 8 }), (n, d) => {
        const point = Number((10 ** -d).toFixed(d));
        expect(n / 10 ** d).toBe(roundPrice(n * point, d));
      }),
      { numRuns: 2000 },
    );
  });

  it('bid < ask, prices on the digits grid, flags 2/4/6, seq +1 per stream, time from the clock', async () => {
    const ticks = await run(11, 3000);
    const specs = new Map(resolveSymbols().map((s) => [s.name, s]));
    const lastSeq = new Map<string, number>();
    let lastTime = 0;
    for (const t of ticks) {
      const s = specs.get(t.symbol)!;
      expect(t.bid).toBeLessThan(t.ask);
      expect(Number(t.bid.toFixed(s.digits))).toBe(t.bid);
      expect(Number(t.ask.toFixed(s.digits))).toBe(t.ask);
      expect([2, 4, 6]).toContain(t.flags);
      expect(t.seq).toBe((lastSeq.get(t.stream) ?? 0) + 1);
      lastSeq.set(t.stream, t.seq);
      expect(t.epoch).toBe(3);
      expect(t.time_msc).toBeGreaterThanOrEqual(lastTime);
      expect(t.time_msc).toBeLessThanOrEqual(Date.UTC(2026, 10, 24, 12) + 3000);
      lastTime = t.time_msc;
    }
    expect(lastSeq.size).toBe(3);
  });

  it('arrivals are bursty: per-second counts are over-dispersed compared with Poisson', async () => {
    const ticks = await run(5, 120_000, 10);
    const t0 = Date.UTC(2026, 10, 24, 12);
    const bins = new Array(120).fill(0) as number[];
    for (const t of ticks) bins[Math.min(119, Math.floor((t.time_msc - t0) / 1000))]!++;
    const mean = bins.reduce((a, b) => a + b, 0) / bins.length;
    const variance = bins.reduce((a, b) => a + (b - mean) ** 2, 0) / bins.length;
    expect(mean).toBeGreaterThan(5);
    expect(mean).toBeLessThan(20);
    // Poisson has variance == mean; self-excitation inflates it.
    expect(variance / mean).toBeGreaterThan(2);
  });

  it('spreads stay realistic: EURUSD median spread within 1–10 points', async () => {
    const ticks = (await run(9, 5000)).filter((t) => t.symbol === 'EURUSD');
    const spreads = ticks.map((t) => Math.round((t.ask - t.bid) * 1e5)).sort((a, b) => a - b);
    const median = spreads[Math.floor(spreads.length / 2)]!;
    expect(median).toBeGreaterThanOrEqual(1);
    expect(median).toBeLessThanOrEqual(10);
  });

  it('a new epoch restarts seq at 1', async () => {
    const clock = new ManualClock(0);
    const gen = new TickGenerator({ symbols: resolveSymbols(['EURUSD']), ticksPerSecond: 100, epoch: 1, clock, random: createRandom(1) });
    gen.prime();
    gen.step(100);
    gen.newEpoch(2);
    const [t] = gen.prime();
    expect(t).toMatchObject({ seq: 1, epoch: 2 });
  });

  it('property: any seed keeps bid < ask and the grid', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const clock = new ManualClock(0);
        const gen = new TickGenerator({ symbols: resolveSymbols(), ticksPerSecond: 1000, epoch: 1, clock, random: createRandom(seed) });
        const ticks = [...gen.prime(), ...gen.step(200), ...gen.step(200)];
        return ticks.every((t) => t.bid < t.ask && t.bid > 0);
      }),
      { numRuns: 50 },
    );
  });
});

describe('tick serialisation', () => {
  it('tickLine is exactly JSON.stringify of the tick', async () => {
    const { tickLine } = await import('../../../simulator/feed/server.ts');
    const ticks = await run(3, 500);
    for (const t of ticks) expect(tickLine(t)).toBe(JSON.stringify(t));
  });
});

describe('sessions in the feed', () => {
  it('a symbol outside its sessions emits no ticks', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 28, 12)); // Saturday
    const symbols = resolveSymbols([{ name: 'EURUSD', sessions: FX_WEEK_SESSIONS }, 'GBPUSD']);
    const gen = new TickGenerator({ symbols, ticksPerSecond: 500, epoch: 1, clock, random: createRandom(2) });
    const out: Tick[] = [];
    gen.onBatch((b) => out.push(...b));
    gen.start();
    await clock.advance(2000);
    gen.stop();
    expect(out.length).toBeGreaterThan(100);
    expect(out.filter((t) => t.symbol === 'EURUSD')).toHaveLength(0);
  });
});

describe('symbol specs', () => {
  it('presets, overrides and session shorthands resolve to full specs', () => {
    const [eur, xau, gbp] = resolveSymbols([{ name: 'EURUSD', sessions: 'fx-week', volume_step: 0.1 }, { name: 'XAUUSD', digits: 2, startPrice: 2400 }, 'GBPUSD']);
    expect(eur).toMatchObject({ digits: 5, point: 0.00001, volume_step: 0.1, sessions: FX_WEEK_SESSIONS });
    expect(xau).toMatchObject({ digits: 2, point: 0.01, trade_tick_size: 0.01, startPrice: 2400, currency_base: 'XAU', currency_profit: 'USD' });
    expect(gbp!.sessions).toEqual([]);
    expect(() => resolveSymbols([{ name: 'EURUSD', sessions: 'weekdays' } as never])).toThrow();
  });
});
