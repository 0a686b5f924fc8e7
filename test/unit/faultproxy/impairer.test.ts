import { describe, expect, it } from 'vitest';
import { createRandom } from '../../../core/random.ts';
import { Impairer, NO_IMPAIRMENTS, type Impairments } from '../../../faultproxy/impairer.ts';

function run(seed: number, config: Partial<Impairments>, n: number) {
  const imp = new Impairer<number>(createRandom(seed));
  imp.impairments = { ...NO_IMPAIRMENTS, ...config };
  const out: Array<{ item: number; delayMs: number }> = [];
  for (let i = 0; i < n; i++) out.push(...imp.process(i));
  out.push(...imp.flush());
  return { out, stats: imp.stats };
}

describe('UDP impairer', () => {
  it('passes everything in order with no impairments', () => {
    const { out } = run(1, {}, 100);
    expect(out.map((o) => o.item)).toEqual([...Array(100).keys()]);
    expect(out.every((o) => o.delayMs === 0)).toBe(true);
  });

  it('loss 0.2 drops about 20 % (fixed seed, 10,000 datagrams, ±2 %)', () => {
    const { stats, out } = run(11, { loss: 0.2 }, 10_000);
    expect(stats.dropped / 10_000).toBeGreaterThan(0.18);
    expect(stats.dropped / 10_000).toBeLessThan(0.22);
    expect(out.length).toBe(10_000 - stats.dropped);
  });

  it('the same seed gives the same decisions; another seed differs', () => {
    const cfg: Partial<Impairments> = { loss: 0.1, duplicate: 0.1, reorder: 0.1, reorder_window: 4, latency: 5, jitter: 3, burst: { enter: 0.05, exit: 0.3, loss: 0.9 } };
    const a = run(5, cfg, 2000);
    const b = run(5, cfg, 2000);
    const c = run(6, cfg, 2000);
    expect(a.out).toEqual(b.out);
    expect(a.out).not.toEqual(c.out);
  });

  it('bursty loss (Gilbert–Elliott) makes runs of drops far longer than independent loss of the same rate', () => {
    const burst = run(3, { loss: 0, burst: { enter: 0.02, exit: 0.2, loss: 1 } }, 20_000);
    const received = new Set(burst.out.map((o) => o.item));
    const runs: number[] = [];
    let cur = 0;
    for (let i = 0; i < 20_000; i++) {
      if (!received.has(i)) cur++;
      else if (cur > 0) {
        runs.push(cur);
        cur = 0;
      }
    }
    const meanRun = runs.reduce((s, r) => s + r, 0) / runs.length;
    // Expected stationary loss enter/(enter+exit) ≈ 9 %, mean burst 1/exit = 5.
    expect(burst.stats.dropped / 20_000).toBeGreaterThan(0.06);
    expect(burst.stats.dropped / 20_000).toBeLessThan(0.12);
    expect(meanRun).toBeGreaterThan(3.5);
    expect(meanRun).toBeLessThan(6.5);
  });

  it('duplication sends about p extra copies', () => {
    const { out, stats } = run(8, { duplicate: 0.25 }, 8000);
    expect(stats.duplicated / 8000).toBeGreaterThan(0.23);
    expect(stats.duplicated / 8000).toBeLessThan(0.27);
    expect(out.length).toBe(8000 + stats.duplicated);
  });

  it('reordering moves a datagram back by at most the window, never drops it', () => {
    const { out, stats } = run(9, { reorder: 0.2, reorder_window: 3 }, 5000);
    const order = out.map((o) => o.item);
    expect([...order].sort((x, y) => x - y)).toEqual([...Array(5000).keys()]);
    expect(stats.reordered / 5000).toBeGreaterThan(0.17);
    expect(stats.reordered / 5000).toBeLessThan(0.23);
    const pos = new Map(order.map((v, i) => [v, i]));
    let displaced = 0;
    for (let i = 0; i < 5000; i++) {
      const shift = pos.get(i)! - i;
      // Later held datagrams can queue behind earlier ones, so allow the window plus overlap.
      expect(shift).toBeLessThanOrEqual(12);
      if (shift > 0) displaced++;
    }
    expect(displaced).toBeGreaterThan(0);
  });

  it('latency with jitter stays within latency ± jitter and averages near latency', () => {
    const { out } = run(4, { latency: 20, jitter: 5 }, 5000);
    const ds = out.map((o) => o.delayMs);
    expect(Math.min(...ds)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...ds)).toBeLessThanOrEqual(25);
    const mean = ds.reduce((s, d) => s + d, 0) / ds.length;
    expect(Math.abs(mean - 20)).toBeLessThan(0.3);
  });

  it('down blackholes everything', () => {
    const { out, stats } = run(1, { down: true }, 100);
    expect(out).toEqual([]);
    expect(stats.dropped).toBe(100);
  });
});
