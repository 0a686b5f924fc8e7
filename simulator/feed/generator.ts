import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { Random } from '../../core/random.ts';
import type { Tick } from '../protocol/types.ts';
import { PriceProcess } from './price-process.ts';
import { inSession, type SymbolSpec } from './symbols.ts';

export interface GeneratorOptions {
  symbols: SymbolSpec[];
  /** Long-run average ticks per second across all symbols. */
  ticksPerSecond: number;
  /** Self-excitation branching ratio (FX ≈ 0.6–0.85, mt5-trading.md §4.3); 0 = Poisson. */
  branching?: number;
  /** Decay time constant of an excitation, ms. */
  excitationDecayMs?: number;
  /** Generation step; ticks due within a step share nearby time_msc values. */
  stepMs?: number;
  epoch: number;
  clock: Clock;
  random: Random;
}

/**
 * Emits ticks in batches from a self-exciting (Hawkes-like) arrival process,
 * so bursts appear without any news schedule. Time comes only from the
 * injected Clock, so a ManualClock and a seed reproduce the same ticks.
 */
export class TickGenerator {
  private readonly procs: PriceProcess[];
  private readonly cumWeights: number[];
  private readonly arrivals: Random;
  private readonly pickRandom: Random;
  private seqs = new Map<string, number>();
  private readonly last = new Map<string, Tick>();
  private excitation = 0;
  private timer: TimerHandle | undefined;
  private lastStepAt = 0;
  private listeners = new Set<(batch: Tick[]) => void>();
  epoch: number;

  constructor(private readonly opts: GeneratorOptions) {
    this.epoch = opts.epoch;
    this.procs = opts.symbols.map((s) => new PriceProcess(s, opts.random.fork(`price:${s.name}`)));
    let acc = 0;
    const total = opts.symbols.reduce((a, s) => a + s.weight, 0);
    this.cumWeights = opts.symbols.map((s) => (acc += s.weight / total));
    this.arrivals = opts.random.fork('arrivals');
    this.pickRandom = opts.random.fork('pick');
  }

  onBatch(fn: (batch: Tick[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  quote(symbol: string): Tick | undefined {
    return this.last.get(symbol);
  }

  /** Change the long-run tick rate from the next step on (burst and quiet-market tests). */
  setRate(ticksPerSecond: number): void {
    this.opts.ticksPerSecond = ticksPerSecond;
  }

  get rate(): number {
    return this.opts.ticksPerSecond;
  }

  /** Per-stream last seq of the current epoch. */
  lastSeqs(): Record<string, number> {
    return Object.fromEntries(this.seqs);
  }

  /** Produce one quote per symbol immediately, so there is a price before the first step. */
  prime(): Tick[] {
    const batch = this.opts.symbols.map((_, i) => this.make(i, this.opts.clock.now()));
    this.emit(batch);
    return batch;
  }

  start(): void {
    if (this.timer) return;
    this.lastStepAt = this.opts.clock.now();
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** New epoch: sequence numbers restart at 1. */
  newEpoch(epoch: number): void {
    this.epoch = epoch;
    this.seqs = new Map();
  }

  /** Advance the process by `dtMs` and emit the ticks that arrived (exposed for tests). */
  step(dtMs: number): Tick[] {
    const o = this.opts;
    const eta = Math.min(Math.max(o.branching ?? 0.8, 0), 0.95);
    const decayMs = o.excitationDecayMs ?? 500;
    const base = (o.ticksPerSecond * (1 - eta)) / 1000;
    // Each arrival adds eta/decay to the intensity, so one tick begets eta ticks on average.
    const kick = eta / decayMs;
    const cap = (o.ticksPerSecond * 20) / 1000;
    const lambda = Math.min(base + this.excitation, cap);
    const n = poisson(this.arrivals, lambda * dtMs);
    this.excitation = (this.excitation + kick * n) * Math.exp(-dtMs / decayMs);
    const now = o.clock.now();
    // Outside its trading sessions a symbol is quiet, as on a real feed over the weekend.
    const open = o.symbols.map((s) => inSession(s.sessions, now));
    const batch: Tick[] = [];
    for (let k = 0; k < n; k++) {
      // Spread arrival times over the step; several can share one millisecond, as on MT5.
      const t = now - Math.floor(((n - 1 - k) * dtMs) / Math.max(n, 1));
      const i = this.pickSymbol();
      if (open[i]) batch.push(this.make(i, t));
    }
    if (batch.length > 0) this.emit(batch);
    return batch;
  }

  private schedule(): void {
    this.timer = this.opts.clock.setTimer(this.opts.stepMs ?? 10, () => {
      const now = this.opts.clock.now();
      // Real timers fire late; generate for the time that actually passed, capped after a stall.
      const dt = Math.min(Math.max(now - this.lastStepAt, 0), 1000);
      this.lastStepAt = now;
      this.schedule();
      this.step(dt);
    });
  }

  private pickSymbol(): number {
    if (this.procs.length === 1) return 0;
    const u = this.pickRandom.next();
    for (let i = 0; i < this.cumWeights.length; i++) if (u < this.cumWeights[i]!) return i;
    return this.cumWeights.length - 1;
  }

  private make(i: number, timeMsc: number): Tick {
    const spec = this.opts.symbols[i]!;
    const q = this.procs[i]!;
    q.advance();
    const seq = (this.seqs.get(spec.name) ?? 0) + 1;
    this.seqs.set(spec.name, seq);
    const tick: Tick = {
      stream: spec.name,
      seq,
      epoch: this.epoch,
      symbol: spec.name,
      bid: q.quoteBid,
      ask: q.quoteAsk,
      last: 0,
      volume: 0,
      volume_real: 0,
      time_msc: timeMsc,
      flags: q.quoteFlags,
    };
    this.last.set(spec.name, tick);
    return tick;
  }

  private emit(batch: Tick[]): void {
    for (const fn of this.listeners) fn(batch);
  }
}

/** Poisson draw; normal approximation for large means keeps 100k ticks/s cheap. */
export function poisson(r: Random, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * r.normal()));
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= r.next();
    if (p <= l) return k;
    k++;
  }
}
