import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventBus } from '../core/events.ts';
import type { Logger } from '../core/log.ts';
import { FeedClient } from '../simulator/protocol/feed-client.ts';
import type { Tick } from '../simulator/protocol/types.ts';

/**
 * Latest quote per symbol from the market-data feed (the terminal's view of
 * prices), reconnecting every `reconnectMs` when the feed goes away. This is
 * only the runtime's quote source; resilient tick streaming to consumers is the
 * stream engine's job (runtime/stream).
 */
export class QuoteCache implements AsyncDisposable {
  readonly latest = new Map<string, Tick>();
  private client: FeedClient | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private listeners = new Set<(t: Tick) => void>();
  connected = false;

  constructor(
    private readonly o: { host: string; port: number; symbols?: string[]; clock: Clock; events: EventBus; log: Logger; reconnectMs: number },
  ) {}

  onTick(fn: (t: Tick) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** How the feed is read on the current connection (binary frames when the feed offers them). */
  get feedEncoding(): 'json' | 'binary' | undefined {
    return this.connected ? this.client?.encoding : undefined;
  }

  quote(symbol: string): { bid: number; ask: number } | undefined {
    return this.latest.get(symbol);
  }

  start(): this {
    void this.connect();
    return this;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      this.client = await FeedClient.connect({
        host: this.o.host,
        port: this.o.port,
        ...(this.o.symbols ? { symbols: this.o.symbols } : {}),
        clock: this.o.clock,
        connectTimeoutMs: 1000,
        // Binary frames when the feed offers them (no JSON.parse per tick); JSON lines otherwise.
        binary: true,
        onBadInput: (e) => {
          this.o.log.warn({ code: e.code, err: e.message }, 'quotes: the feed sent input that was refused');
          this.o.events.emit('tick', 'quotes.bad_input', { code: e.code, message: e.message });
        },
        onTick: (t) => {
          this.latest.set(t.symbol, t);
          for (const l of this.listeners) l(t);
        },
        onClose: () => {
          this.connected = false;
          if (!this.stopped) {
            this.o.events.emit('tick', 'quotes.disconnected', {});
            this.retry();
          }
        },
      });
      this.connected = true;
      this.o.events.emit('tick', 'quotes.connected', {});
    } catch (e) {
      this.o.log.debug({ err: (e as Error).message }, 'quotes: feed unreachable; retrying');
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.o.clock.setTimer(this.o.reconnectMs, () => void this.connect());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.client?.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
