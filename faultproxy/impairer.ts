import type { Random } from '../core/random.ts';

/**
 * Seeded datagram impairments for one direction of a UDP relay. Every decision
 * draws from one Random in datagram order, so the same seed and the same
 * datagram sequence give the same drops, delays, copies and reorderings.
 */
export interface Impairments {
  /** Drop probability in the good state (or always, without `burst`). */
  loss: number;
  /** Gilbert–Elliott bursty loss: P(good→bad), P(bad→good) per datagram, and the drop probability while bad. */
  burst: { enter: number; exit: number; loss: number } | null;
  /** Delay in ms, and uniform jitter ± ms around it (never below 0). */
  latency: number;
  jitter: number;
  /** Probability that a datagram is sent twice. */
  duplicate: number;
  /** Probability that a datagram is held back until 1..reorder_window later datagrams have passed. */
  reorder: number;
  reorder_window: number;
  /** Blackhole: drop everything, close nothing. */
  down: boolean;
}

export const NO_IMPAIRMENTS: Impairments = Object.freeze({
  loss: 0,
  burst: null,
  latency: 0,
  jitter: 0,
  duplicate: 0,
  reorder: 0,
  reorder_window: 3,
  down: false,
});

export interface ImpairStats {
  received: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export interface Emission<T> {
  item: T;
  delayMs: number;
}

interface Held<T> {
  item: T;
  copies: number;
  remaining: number;
}

export class Impairer<T> {
  private config: Impairments = { ...NO_IMPAIRMENTS };
  private bad = false;
  private held: Held<T>[] = [];
  readonly stats: ImpairStats = { received: 0, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0 };

  constructor(private readonly random: Random) {}

  get impairments(): Impairments {
    return { ...this.config, burst: this.config.burst ? { ...this.config.burst } : null };
  }

  set impairments(c: Impairments) {
    this.config = { ...c, burst: c.burst ? { ...c.burst } : null };
    if (!c.burst) this.bad = false;
  }

  get holding(): number {
    return this.held.length;
  }

  /** Decides the fate of one datagram; may also release earlier held-back ones behind it. */
  process(item: T): Emission<T>[] {
    const c = this.config;
    this.stats.received++;
    if (c.down) {
      this.stats.dropped++;
      return [];
    }
    let lossP = c.loss;
    if (c.burst) {
      this.bad = this.bad ? !this.random.chance(c.burst.exit) : this.random.chance(c.burst.enter);
      if (this.bad) lossP = c.burst.loss;
    }
    const out: Emission<T>[] = [];
    if (this.random.chance(lossP)) {
      this.stats.dropped++;
    } else {
      const copies = this.random.chance(c.duplicate) ? 2 : 1;
      if (copies === 2) this.stats.duplicated++;
      if (c.reorder_window > 0 && this.random.chance(c.reorder)) {
        this.stats.reordered++;
        // Counted down by later datagrams only, so it always comes out behind at least one.
        this.held.push({ item, copies, remaining: this.random.int(1, Math.floor(c.reorder_window)) + 1 });
      } else {
        this.emit(out, item, copies);
      }
    }
    const still: Held<T>[] = [];
    for (const h of this.held) {
      h.remaining--;
      if (h.remaining <= 0) this.emit(out, h.item, h.copies);
      else still.push(h);
    }
    this.held = still;
    return out;
  }

  /** Releases every held-back datagram (the stream went quiet, or impairments were cleared). */
  flush(): Emission<T>[] {
    const out: Emission<T>[] = [];
    for (const h of this.held) this.emit(out, h.item, h.copies);
    this.held = [];
    return out;
  }

  private emit(out: Emission<T>[], item: T, copies: number): void {
    for (let k = 0; k < copies; k++) {
      const { latency, jitter } = this.config;
      const d = jitter > 0 ? latency + (this.random.next() * 2 - 1) * jitter : latency;
      out.push({ item, delayMs: Math.max(0, d) });
      this.stats.forwarded++;
    }
  }
}
