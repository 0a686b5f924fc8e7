import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import type { Tick } from '../simulator/protocol/types.ts';
import type { OrderEngine } from './engine.ts';

/**
 * A deliberately simple seeded strategy, so scenarios have a workload: on
 * quotes, at most `ordersPerSecond` (token bucket on the Clock), it sends a
 * market order in the direction of the last mid-price move, a coin flip from
 * its own Random stream when the mid did not move.
 */
export interface StrategyOptions {
  clock: Clock;
  random: Random;
  engine: OrderEngine;
  symbols: string[];
  ordersPerSecond: number;
  volume?: number;
  maxOrders: number;
  deviation: number;
  /** Volume when none is configured (the symbol's volume_min). */
  minVolume: (symbol: string) => number;
}

export class SeededStrategy {
  private tokens = 1;
  private last = -1;
  private readonly prevMid = new Map<string, number>();
  placed = 0;
  private stopped = false;

  constructor(private readonly o: StrategyOptions) {}

  onTick(t: Tick): void {
    if (this.stopped || !this.o.symbols.includes(t.symbol)) return;
    if (this.o.maxOrders > 0 && this.placed >= this.o.maxOrders) return;
    const now = this.o.clock.monotonic();
    if (this.last >= 0) this.tokens = Math.min(1, this.tokens + ((now - this.last) / 1000) * this.o.ordersPerSecond);
    this.last = now;
    const mid = (t.bid + t.ask) / 2;
    const prev = this.prevMid.get(t.symbol);
    this.prevMid.set(t.symbol, mid);
    if (this.tokens < 1) return;
    this.tokens -= 1;
    const side = prev === undefined || prev === mid ? (this.o.random.chance(0.5) ? 'buy' : 'sell') : mid > prev ? 'buy' : 'sell';
    this.placed++;
    void this.o.engine
      .submit({ symbol: t.symbol, side, volume: this.o.volume ?? this.o.minVolume(t.symbol), deviation: this.o.deviation, origin: 'strategy' })
      .catch(() => {});
  }

  stop(): void {
    this.stopped = true;
  }
}
