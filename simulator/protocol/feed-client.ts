import { connect, type Socket } from 'node:net';
import { systemClock, type Clock } from '../../core/clock.ts';
import { EaChaosError } from '../../core/errors.ts';
import { StringDecoder } from 'node:string_decoder';
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

const MAX_LINE_CHARS = 1024 * 1024;

/** Subscribes to the feed's newline-delimited JSON tick stream. */
export class FeedClient implements AsyncDisposable {
  private closed = false;
  /** Lines that were not JSON (a feed never sends them; non-zero means a wrong peer). */
  badLines = 0;

  private constructor(
    private readonly socket: Socket,
    opts: FeedClientOptions,
  ) {
    const onLine = (line: string) => {
      let msg: Tick | FeedHello;
      try {
        msg = JSON.parse(line) as Tick | FeedHello;
      } catch {
        // Not something the feed sends; counted rather than thrown into the socket's handler.
        this.badLines++;
        return;
      }
      if ('hello' in msg) opts.onHello?.(msg.hello);
      else opts.onTick(msg);
    };
    // One string per chunk, not one per line: a feed chunk holds a whole batch of ticks. The
    // decoder keeps a UTF-8 character cut between chunks whole.
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let discarding = false;
    const onData = (c: Buffer) => {
      const text = rest.length === 0 ? decoder.write(c) : rest + decoder.write(c);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        if (discarding) discarding = false;
        else if (nl > start) onLine(text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl));
        start = nl + 1;
      }
      rest = start === 0 ? text : text.slice(start);
      // A line longer than this is not the feed's: drop it up to its newline rather than hold it.
      if (rest.length > MAX_LINE_CHARS) {
        if (!discarding) this.badLines++;
        discarding = true;
        rest = '';
      }
    };
    let err: Error | undefined;
    socket.on('data', onData);
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
