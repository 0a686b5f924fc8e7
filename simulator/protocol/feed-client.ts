import { connect, type Socket } from 'node:net';
import { systemClock, type Clock } from '../../core/clock.ts';
import { EaChaosError } from '../../core/errors.ts';
import { StringDecoder } from 'node:string_decoder';
import { BINARY_ENCODING, FEED_FRAME_VERSION, FeedFrameDecoder, type FeedDecoderStats, type FeedFrameError } from './feed-frames.ts';
import type { FeedHello, FeedSubscribe, Tick } from './types.ts';

export interface FeedClientOptions {
  host: string;
  port: number;
  /** Only these symbols (default: all). */
  symbols?: string[];
  onTick: (tick: Tick) => void;
  onHello?: (hello: FeedHello['hello']) => void;
  /**
   * Ask for the feed's binary frames (docs/protocol.md). A feed that acknowledges switches to them;
   * one that does not (an older feed) keeps sending JSON lines, which this client then reads.
   */
  binary?: boolean;
  /**
   * Input the client refused: a line that is not JSON, or a binary frame that is garbled or cut
   * short. A bad binary frame also closes the connection (onClose gets the error), since the
   * stream cannot be trusted after it; its ticks are not delivered.
   */
  onBadInput?: (err: FeedInputError) => void;
  /** Called once when the connection ends, with the reason if it was an error. */
  onClose?: (err?: Error) => void;
  connectTimeoutMs?: number;
  clock?: Clock;
}

const MAX_LINE_CHARS = 1024 * 1024;

export interface FeedInputError {
  code: FeedFrameError['code'] | 'E_LINE' | 'E_ENCODING';
  message: string;
}

export interface FeedClientStats extends FeedDecoderStats {
  encoding: 'json' | 'binary';
  badLines: number;
}

class FeedFrameStreamError extends EaChaosError {}

/**
 * Subscribes to the feed: newline-delimited JSON ticks, or binary frames when asked for with
 * `binary` and the feed acknowledges (until then, and with a feed that never does, JSON lines).
 */
export class FeedClient implements AsyncDisposable {
  private closed = false;
  /** Lines that were not JSON (a feed never sends them; non-zero means a wrong peer). */
  badLines = 0;
  /** Binary frames refused (at most one per connection: the client closes on it). */
  badFrames = 0;
  private decoder: FeedFrameDecoder | undefined;

  private constructor(
    private readonly socket: Socket,
    opts: FeedClientOptions,
  ) {
    const bad = (e: FeedInputError) => {
      try {
        opts.onBadInput?.(e);
      } catch {
        // A reporting hook must not take the socket's handler down.
      }
    };
    let err: Error | undefined;
    /** Returns true when the line was the feed's binary-encoding ack (binary frames follow it). */
    const onLine = (line: string): boolean => {
      let msg: Tick | FeedHello | { encoding: unknown; version: unknown };
      try {
        msg = JSON.parse(line) as Tick | FeedHello | { encoding: unknown; version: unknown };
      } catch {
        // Not something the feed sends; counted rather than thrown into the socket's handler.
        this.badLines++;
        bad({ code: 'E_LINE', message: `a line that is not JSON (${line.length} chars)` });
        return false;
      }
      if ('hello' in msg) opts.onHello?.(msg.hello);
      else if ('encoding' in msg) {
        if (!opts.binary) return false;
        if (msg.encoding === BINARY_ENCODING && msg.version === FEED_FRAME_VERSION) return true;
        bad({ code: 'E_ENCODING', message: `the feed switched to an encoding this client does not read: ${line.slice(0, 200)}` });
        socket.destroy((err = new FeedFrameStreamError('E_FEED_FRAME', `feed ${line.slice(0, 200)}: unsupported encoding`)));
        return false;
      } else opts.onTick(msg);
      return false;
    };
    const onFrameBytes = (c: Buffer) => {
      const e = this.decoder!.push(c);
      if (!e) return;
      this.badFrames++;
      bad(e);
      socket.destroy((err = new FeedFrameStreamError('E_FEED_FRAME', `feed sent a bad binary frame (${e.code}): ${e.message}`)));
    };
    // JSON lines. One string per chunk, not one per line: a feed chunk holds a whole batch of ticks.
    // The decoder keeps a UTF-8 character cut between chunks whole.
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let discarding = false;
    const onText = (c: Buffer) => {
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
        if (!discarding) {
          this.badLines++;
          bad({ code: 'E_LINE', message: `a line longer than ${MAX_LINE_CHARS} chars` });
        }
        discarding = true;
        rest = '';
      }
    };
    // Waiting for the binary ack: lines are cut from the bytes, since whatever follows the ack in
    // the same chunk is binary and must not go through a text decoder.
    let held: Buffer = Buffer.alloc(0);
    const onAwaitingAck = (c: Buffer) => {
      const b = held.length === 0 ? c : Buffer.concat([held, c]);
      let start = 0;
      for (let nl = b.indexOf(10, start); nl !== -1; nl = b.indexOf(10, start)) {
        const line = discarding ? '' : b.toString('utf8', start, nl > start && b[nl - 1] === 13 ? nl - 1 : nl);
        discarding = false;
        start = nl + 1;
        if (line.length > 0 && onLine(line)) {
          held = Buffer.alloc(0);
          this.decoder = new FeedFrameDecoder(opts.onTick);
          onData = onFrameBytes;
          if (start < b.length) onFrameBytes(b.subarray(start));
          return;
        }
        if (socket.destroyed) return;
      }
      held = start === 0 ? b : Buffer.from(b.subarray(start));
      if (held.length > MAX_LINE_CHARS) {
        if (!discarding) {
          this.badLines++;
          bad({ code: 'E_LINE', message: `a line longer than ${MAX_LINE_CHARS} bytes` });
        }
        discarding = true;
        held = Buffer.alloc(0);
      }
    };
    let onData: (c: Buffer) => void = opts.binary ? onAwaitingAck : onText;
    socket.on('data', (c: Buffer) => onData(c));
    socket.on('error', (e) => (err ??= e));
    socket.on('close', () => {
      this.closed = true;
      const e = this.decoder?.end();
      if (e) {
        this.badFrames++;
        bad(e);
        err ??= new FeedFrameStreamError('E_FEED_FRAME', `feed connection ended inside a binary frame: ${e.message}`);
      }
      opts.onClose?.(err);
    });
  }

  /** Which encoding the feed is sending on this connection. */
  get encoding(): 'json' | 'binary' {
    return this.decoder ? 'binary' : 'json';
  }

  stats(): FeedClientStats {
    const d = this.decoder?.stats ?? { frames: 0, ticks: 0, badFrames: 0, seqGapTicks: 0, seqRegressions: 0 };
    return { ...d, badFrames: this.badFrames, encoding: this.encoding, badLines: this.badLines };
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
        if (opts.symbols || opts.binary) {
          const sub: Partial<FeedSubscribe> = { op: 'subscribe', ...(opts.symbols ? { symbols: opts.symbols } : {}), ...(opts.binary ? { encoding: BINARY_ENCODING } : {}) };
          socket.write(`${JSON.stringify(sub)}\n`);
        }
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
