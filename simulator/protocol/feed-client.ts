import { connect, type Socket } from 'node:net';
import { systemClock, type Clock } from '../../core/clock.ts';
import { EaChaosError } from '../../core/errors.ts';
import { LineSplitter } from './lines.ts';
import type { FeedHello, Tick } from './types.ts';

export interface FeedClientOptions {
  host: string;
  port: number;
  /** Only these symbols (default: all). */
  symbols?: string[];
  onTick: (tick: Tick) => void;
  onHello?: (hello: FeedHello['hello']) => void;
  /** Called once when the connection ends, with the reason if it was an error. */
  onClose?: (err?: Error) => void;
  connectTimeoutMs?: number;
  clock?: Clock;
}

/** Subscribes to the feed's newline-delimited JSON tick stream. */
export class FeedClient implements AsyncDisposable {
  private closed = false;
  /** Lines that were not JSON (a feed never sends them; non-zero means a wrong peer). */
  badLines = 0;

  private constructor(
    private readonly socket: Socket,
    opts: FeedClientOptions,
  ) {
    const splitter = new LineSplitter(1024 * 1024, (ev) => {
      if (!('line' in ev)) return;
      let msg: Tick | FeedHello;
      try {
        msg = JSON.parse(ev.line) as Tick | FeedHello;
      } catch {
        // Not something the feed sends; counted rather than thrown into the socket's handler.
        this.badLines++;
        return;
      }
      if ('hello' in msg) opts.onHello?.(msg.hello);
      else opts.onTick(msg);
    });
    let err: Error | undefined;
    socket.on('data', (c: Buffer) => splitter.push(c));
    socket.on('error', (e) => (err = e));
    socket.on('close', () => {
      this.closed = true;
      opts.onClose?.(err);
    });
  }

  static connect(opts: FeedClientOptions): Promise<FeedClient> {
    const clock = opts.clock ?? systemClock;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: opts.host, port: opts.port });
      const timer = clock.setTimer(opts.connectTimeoutMs ?? 5000, () => {
        socket.destroy();
        reject(new EaChaosError('E_FEED_CONNECTION', `feed ${opts.host}:${opts.port}: connect timeout`));
      });
      socket.once('error', (e) => {
        timer.cancel();
        reject(new EaChaosError('E_FEED_CONNECTION', `feed ${opts.host}:${opts.port}: ${e.message}`, { cause: e }));
      });
      socket.once('connect', () => {
        timer.cancel();
        socket.removeAllListeners('error');
        if (opts.symbols) socket.write(`${JSON.stringify({ op: 'subscribe', symbols: opts.symbols })}\n`);
        resolve(new FeedClient(socket, opts));
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async stop(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((r) => {
      this.socket.once('close', () => r());
      this.socket.destroy();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
