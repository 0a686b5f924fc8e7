import type { StreamTick } from './codec.ts';

/**
 * Where the streamer keeps every tick it published, so a consumer can fill gaps
 * over TCP (seed §3.2 step 6: history is served from storage, not from the
 * latest-tick buffer). `append` is called on the publish hot path: it must not
 * block or throw; implementations buffer and write in batches.
 */
export interface TickHistory {
  append(tick: StreamTick, storedAt: number): void;
  /** Ticks of `epoch` with from <= seq <= to, by seq, at most `limit`. */
  bySeq(epoch: number, fromSeq: number, toSeq: number, limit: number): Promise<StreamTick[]>;
  /** Ticks of `epoch` with from <= time_msc <= to, by seq, at most `limit`. */
  byTime(epoch: number, fromMs: number, toMs: number, limit: number): Promise<StreamTick[]>;
  /** Drop ticks stored before `beforeMs`; returns how many were dropped. */
  prune(beforeMs: number): Promise<number>;
  close(): Promise<void>;
}

/** In-memory history, for unit tests and for a standalone streamer with no DuckDB file. */
export class MemoryTickHistory implements TickHistory {
  private rows: { t: StreamTick; at: number }[] = [];

  append(tick: StreamTick, storedAt: number): void {
    this.rows.push({ t: tick, at: storedAt });
  }
  async bySeq(epoch: number, fromSeq: number, toSeq: number, limit: number): Promise<StreamTick[]> {
    return this.rows
      .filter((r) => r.t.epoch === epoch && r.t.seq >= fromSeq && r.t.seq <= toSeq)
      .map((r) => r.t)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
  }
  async byTime(epoch: number, fromMs: number, toMs: number, limit: number): Promise<StreamTick[]> {
    return this.rows
      .filter((r) => r.t.epoch === epoch && r.t.tick.time_msc >= fromMs && r.t.tick.time_msc <= toMs)
      .map((r) => r.t)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
  }
  async prune(beforeMs: number): Promise<number> {
    const before = this.rows.length;
    this.rows = this.rows.filter((r) => r.at >= beforeMs);
    return before - this.rows.length;
  }
  async close(): Promise<void> {}
  get size(): number {
    return this.rows.length;
  }
}
