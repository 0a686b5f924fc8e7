import type { Tick } from '../../runtime/stream/codec.ts';
import type { ReceivedTick } from './tracker.ts';

export interface FeedTickKey {
  stream?: string;
  symbol: string;
  epoch?: number;
  seq?: number;
  time_msc: number;
}

export interface NoTickLostResult {
  ok: boolean;
  /** Feed ticks in the window the consumer never received (first 100). */
  missing: FeedTickKey[];
  missingCount: number;
  /** Received ticks the feed never emitted (a forged or corrupted tick). */
  unknownCount: number;
  checked: number;
}

const key = (t: Pick<Tick, 'symbol' | 'stream' | 'epoch' | 'seq'>) => `${t.stream ?? t.symbol}|${t.epoch ?? ''}|${t.seq ?? ''}`;

/**
 * The "no tick lost within 24 h" check: every tick the feed recorded (its own
 * stream, epoch and seq) with time_msc inside the window must be in what the
 * consumer received, through whichever path.
 */
export function checkNoTickLost(feed: readonly FeedTickKey[], received: readonly Pick<ReceivedTick, 'tick'>[], window: { fromMs?: number; toMs?: number } = {}): NoTickLostResult {
  const got = new Set<string>();
  for (const r of received) got.add(key(r.tick));
  const emitted = new Set<string>();
  const missing: FeedTickKey[] = [];
  let missingCount = 0;
  let checked = 0;
  for (const t of feed) {
    emitted.add(key(t));
    if (window.fromMs !== undefined && t.time_msc < window.fromMs) continue;
    if (window.toMs !== undefined && t.time_msc > window.toMs) continue;
    checked++;
    if (!got.has(key(t))) {
      missingCount++;
      if (missing.length < 100) missing.push(t);
    }
  }
  let unknownCount = 0;
  for (const k of got) if (!emitted.has(k)) unknownCount++;
  return { ok: missingCount === 0, missing, missingCount, unknownCount, checked };
}
