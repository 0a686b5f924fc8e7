import { ManualClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { BrokerEngine, type EngineOptions } from '../../../simulator/broker/engine.ts';
import { parseFaults, type FaultsInput } from '../../../simulator/broker/faults.ts';
import type { QuoteSource } from '../../../simulator/feed/server.ts';
import { resolveSymbols, type SymbolSpec, type SymbolSpecInput } from '../../../simulator/feed/symbols.ts';
import type { MqlTradeRequest, Tick } from '../../../simulator/protocol/types.ts';

/** A quote source whose prices the test sets by hand. */
export class StubQuotes implements QuoteSource {
  readonly symbols: SymbolSpec[];
  private readonly quotes = new Map<string, Tick>();
  private seq = 0;
  constructor(symbols?: (SymbolSpecInput | string)[]) {
    this.symbols = resolveSymbols(symbols);
  }
  set(symbol: string, bid: number, ask: number): void {
    this.quotes.set(symbol, { stream: symbol, seq: ++this.seq, epoch: 1, symbol, bid, ask, last: 0, volume: 0, volume_real: 0, time_msc: 0, flags: 6 });
  }
  clear(symbol: string): void {
    this.quotes.delete(symbol);
  }
  quote(symbol: string): Tick | undefined {
    return this.quotes.get(symbol);
  }
}

/** 2026-11-24 (a Tuesday) 12:00 UTC. */
export const TUESDAY_NOON = Date.UTC(2026, 10, 24, 12, 0, 0);

export function makeEngine(opts: Partial<EngineOptions> & { faultsInput?: FaultsInput; symbols?: (SymbolSpecInput | string)[]; seed?: number } = {}) {
  const clock = new ManualClock(TUESDAY_NOON);
  const quotes = new StubQuotes(opts.symbols);
  quotes.set('EURUSD', 1.0834, 1.08343);
  quotes.set('GBPUSD', 1.265, 1.26508);
  quotes.set('USDJPY', 151.2, 151.204);
  const engine = new BrokerEngine({
    clock,
    random: createRandom(opts.seed ?? 42),
    quotes,
    ...opts,
    faults: opts.faultsInput ? parseFaults(opts.faultsInput) : opts.faults,
  });
  return { clock, quotes, engine };
}

export const buy = (extra: Partial<MqlTradeRequest> = {}): MqlTradeRequest => ({
  action: 1,
  symbol: 'EURUSD',
  volume: 0.1,
  type: 0,
  price: 1.08343,
  deviation: 5,
  magic: 7,
  comment: 'c1',
  ...extra,
});

export const sell = (extra: Partial<MqlTradeRequest> = {}): MqlTradeRequest => buy({ type: 1, price: 1.0834, ...extra });
