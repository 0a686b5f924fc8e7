import type { StreamTick, Tick } from './codec.ts';

/**
 * Ticks as rows of doubles, the form they cross the thread boundary to the history worker
 * in (and back, for history answers): one Float64Array transferred per event-loop turn costs a
 * memcpy, where a structured clone of tick objects costs ~1 µs a tick on each side. Strings
 * (symbol, feed stream) travel as indexes into a dictionary that the packer sends only once.
 *
 *   0 epoch | 1 seq | 2 symbol id | 3 bid | 4 ask | 5 last | 6 volume | 7 time_msc | 8 flags |
 *   9 feed seq (-1: none) | 10 feed epoch (-1: none) | 11 stored_at | 12 feed stream id (-1: none) |
 *   13 volume_real (NaN: none; ticks carry finite numbers only)
 */
export const ROW = 14;

export interface PackedTicks {
  rows: Float64Array;
  n: number;
  /** Strings first seen in this batch; their ids continue the receiver's dictionary. */
  strs: string[];
}

/** Collects ticks into rows; `take()` hands over what is pending as its own transferable buffer. */
export class TickPacker {
  private rows = new Float64Array(ROW * 1024);
  private n = 0;
  private readonly ids = new Map<string, number>();
  private fresh: string[] = [];

  get pending(): number {
    return this.n;
  }

  private id(s: string): number {
    let i = this.ids.get(s);
    if (i === undefined) {
      i = this.ids.size;
      this.ids.set(s, i);
      this.fresh.push(s);
    }
    return i;
  }

  add(t: StreamTick, storedAt: number): void {
    if ((this.n + 1) * ROW > this.rows.length) {
      const bigger = new Float64Array(this.rows.length * 2);
      bigger.set(this.rows);
      this.rows = bigger;
    }
    const k = t.tick;
    const r = this.rows;
    const o = this.n++ * ROW;
    r[o] = t.epoch;
    r[o + 1] = t.seq;
    r[o + 2] = this.id(k.symbol);
    r[o + 3] = k.bid;
    r[o + 4] = k.ask;
    r[o + 5] = k.last;
    r[o + 6] = k.volume;
    r[o + 7] = k.time_msc;
    r[o + 8] = k.flags;
    r[o + 9] = k.seq ?? -1;
    r[o + 10] = k.epoch ?? -1;
    r[o + 11] = storedAt;
    r[o + 12] = k.stream === undefined ? -1 : this.id(k.stream);
    r[o + 13] = k.volume_real ?? NaN;
  }

  /** The pending rows as a fresh, exactly sized buffer (the packer keeps its own for the next turn). */
  take(): PackedTicks | undefined {
    if (this.n === 0) return undefined;
    const out: PackedTicks = { rows: this.rows.slice(0, this.n * ROW), n: this.n, strs: this.fresh };
    this.n = 0;
    this.fresh = [];
    return out;
  }
}

/** Rows back into ticks; `dict` holds every string id the rows use. */
export function unpackTicks(rows: Float64Array, n: number, dict: readonly string[]): StreamTick[] {
  const out: StreamTick[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * ROW;
    const tick: Tick = {
      symbol: dict[rows[o + 2]!]!,
      bid: rows[o + 3]!,
      ask: rows[o + 4]!,
      last: rows[o + 5]!,
      volume: rows[o + 6]!,
      time_msc: rows[o + 7]!,
      flags: rows[o + 8]!,
    };
    if (rows[o + 9]! >= 0) tick.seq = rows[o + 9]!;
    if (rows[o + 10]! >= 0) tick.epoch = rows[o + 10]!;
    if (rows[o + 12]! >= 0) tick.stream = dict[rows[o + 12]!]!;
    if (!Number.isNaN(rows[o + 13]!)) tick.volume_real = rows[o + 13]!;
    out[i] = { epoch: rows[o]!, seq: rows[o + 1]!, tick };
  }
  return out;
}
