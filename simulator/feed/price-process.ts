import type { Random } from '../../core/random.ts';
import { TickFlag } from '../protocol/types.ts';
import type { SymbolSpec } from './symbols.ts';

/**
 * One symbol's quote process on the integer point grid (mt5-trading.md §4.4–4.5):
 * mid moves by ±1–3 points with a weak bid-ask bounce, rare compound jumps,
 * and a spread that is the base spread times exp(OU noise) with occasional
 * widening spikes. Integers throughout, so bid < ask holds exactly.
 */
export class PriceProcess {
  private mid: number;
  private lastMove = 0;
  private spreadLog = 0;
  private spikeLeft = 0;
  private bid = 0;
  private ask = 0;

  constructor(
    private readonly spec: SymbolSpec,
    private readonly random: Random,
  ) {
    this.mid = Math.round(spec.startPrice / spec.point);
    // points / 10^digits is the double nearest the decimal price: the same number as
    // roundPrice(points * point, digits), which went through a string per price.
    this.scale = 10 ** spec.digits;
  }

  /** The latest quote, as advance() left it (read without allocating an object per tick). */
  quoteBid = 0;
  quoteAsk = 0;
  quoteFlags = 0;
  private readonly scale: number;

  /** Move the process one tick and leave the quote in quoteBid/quoteAsk/quoteFlags. */
  advance(): void {
    const r = this.random;
    let move = 0;
    if (r.chance(0.7)) {
      const size = r.chance(0.75) ? 1 : r.chance(0.7) ? 2 : 3;
      // Tick-scale mean reversion: reverse the previous move a little more often than not.
      const reverse = this.lastMove !== 0 && r.chance(0.55);
      const sign = reverse ? -Math.sign(this.lastMove) : r.chance(0.5) ? 1 : -1;
      move = sign * size;
    }
    if (r.chance(0.0005)) move += (r.chance(0.5) ? 1 : -1) * r.int(50, 300);
    this.mid = Math.max(this.mid + move, 10 * this.spec.spreadPoints + 10);
    if (move !== 0) this.lastMove = move;

    this.spreadLog = this.spreadLog * 0.95 + 0.12 * r.normal();
    if (this.spikeLeft > 0) this.spikeLeft--;
    else if (r.chance(0.001)) this.spikeLeft = r.int(20, 200);
    const mult = Math.exp(this.spreadLog) * (this.spikeLeft > 0 ? 4 : 1);
    const spread = Math.max(1, Math.round(this.spec.spreadPoints * mult));

    const bid = this.mid - Math.floor(spread / 2);
    let ask = bid + spread;
    let flags = 0;
    if (bid !== this.bid) flags |= TickFlag.BID;
    if (ask !== this.ask) flags |= TickFlag.ASK;
    if (flags === 0) {
      // A quote tick always changes something; nudge the ask by one point.
      ask = ask + (ask - bid > 1 && r.chance(0.5) ? -1 : 1);
      flags = TickFlag.ASK;
    }
    this.bid = bid;
    this.ask = ask;
    this.quoteBid = bid / this.scale;
    this.quoteAsk = ask / this.scale;
    this.quoteFlags = flags;
  }
}
