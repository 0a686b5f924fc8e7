import { unsafeUniformIntDistribution, xoroshiro128plus, type RandomGenerator } from 'pure-rand';

/**
 * The seeded Random port. Every chance decision in ea-chaos (toxicity, price
 * moves, broker faults, strategy) draws from one of these, so a run is
 * reproducible from its seed. `fork(label)` derives an independent stream per
 * component: adding draws in one component never shifts another's sequence.
 */
export interface Random {
  readonly seed: number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Standard normal N(0,1). */
  normal(): number;
  /** Exponential with the given mean. */
  exponential(mean: number): number;
  /** Pick one element. */
  pick<T>(items: readonly T[]): T;
  /** An independent stream derived from this seed and a label. */
  fork(label: string): Random;
}

/** 32-bit FNV-1a, to turn labels into seed material. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class SeededRandom implements Random {
  readonly seed: number;
  private readonly rng: RandomGenerator;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`seed must be a finite number, got ${seed}`);
    this.seed = seed >>> 0;
    this.rng = xoroshiro128plus(this.seed);
  }

  next(): number {
    // 53 random bits from two 32-bit draws: a float with full double precision.
    const hi = unsafeUniformIntDistribution(0, (1 << 26) - 1, this.rng);
    const lo = unsafeUniformIntDistribution(0, (1 << 27) - 1, this.rng);
    return (hi * 134217728 + lo) / 9007199254740992;
  }

  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new RangeError(`int(${min}, ${max}): need integers with min <= max`);
    }
    if (max - min <= 0xffffffff) return unsafeUniformIntDistribution(min, max, this.rng);
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    // Box–Muller; guard against log(0).
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  exponential(mean: number): number {
    let u = 0;
    while (u === 0) u = this.next();
    return -Math.log(u) * mean;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  fork(label: string): Random {
    return new SeededRandom((Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) ^ hashString(label)) >>> 0);
  }
}

export function createRandom(seed: number): Random {
  return new SeededRandom(seed);
}
