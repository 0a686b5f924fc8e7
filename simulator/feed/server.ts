import { createServer, type Server, type Socket } from 'node:net';
import { systemClock, type Clock } from '../../core/clock.ts';
import { EaChaosError } from '../../core/errors.ts';
import { createRandom, type Random } from '../../core/random.ts';
import { BINARY_ENCODING, FEED_FRAME_VERSION, FeedFrameEncoder } from '../protocol/feed-frames.ts';
import { LineSplitter } from '../protocol/lines.ts';
import type { FeedEndpoint, Tick } from '../protocol/types.ts';
import { startFeedAdmin } from './admin.ts';
import { TickGenerator } from './generator.ts';
import { resolveSymbols, type SymbolSpec, type SymbolSpecInput } from './symbols.ts';

export interface FeedOptions {
  seed?: number;
  random?: Random;
  clock?: Clock;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** false = no TCP listener (an in-process quote source only). */
  listen?: boolean;
  symbols?: (SymbolSpecInput | string)[];
  ticksPerSecond?: number;
  branching?: number;
  stepMs?: number;
  /** Initial epoch; each restart adds 1. Default: seconds of the clock, so a new process gets a new epoch. */
  epoch?: number;
  /** How many emitted ticks the in-memory record keeps (oldest dropped first). */
  recordLimit?: number;
  /** A subscriber further behind than this many bytes is disconnected. */
  maxSubscriberBacklogBytes?: number;
  /** Start the feed's admin HTTP API on this port (0 = free port); omitted = no admin API. */
  adminPort?: number;
}

/** What the broker needs from a quote source. */
export interface QuoteSource {
  quote(symbol: string): Tick | undefined;
  readonly symbols: readonly SymbolSpec[];
  /** New quotes as they are produced (the broker runs SL/TP and pending triggers on them). */
  onTicks?(fn: (batch: Tick[]) => void): () => void;
}

export interface FeedStats {
  epoch: number;
  ticksPerSecond: number;
  emitted: number;
  subscribers: number;
  slowConsumersDropped: number;
  lastSeq: Record<string, number>;
}

export interface FeedHandle extends QuoteSource, AsyncDisposable {
  readonly host: string;
  readonly port: number;
  readonly endpoint: FeedEndpoint;
  /** Admin base URL when started with `adminPort`. */
  readonly admin: string | undefined;
  readonly epoch: number;
  setRate(ticksPerSecond: number): void;
  /** Ticks emitted and still in the record, oldest first (optionally one symbol). */
  emitted(symbol?: string): Tick[];
  stats(): FeedStats;
  /** Listen to every batch in-process. */
  onTicks(fn: (batch: Tick[]) => void): () => void;
  /** Drop every subscriber, start a new epoch (seq restarts at 1), listen again on the same port. */
  restart(opts?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

const quoted = new Map<string, string>();
/** JSON of a tick, field order fixed; hand-built because it runs 100k+ times a second. */
export function tickLine(t: Tick): string {
  let q = quoted.get(t.symbol);
  if (q === undefined) {
    q = JSON.stringify(t.symbol);
    quoted.set(t.symbol, q);
  }
  const stream = t.stream === t.symbol ? q : JSON.stringify(t.stream);
  return `{"stream":${stream},"seq":${t.seq},"epoch":${t.epoch},"symbol":${q},"bid":${t.bid},"ask":${t.ask},"last":${t.last},"volume":${t.volume},"volume_real":${t.volume_real},"time_msc":${t.time_msc},"flags":${t.flags}}`;
}

interface Subscriber {
  socket: Socket;
  symbols: Set<string> | undefined;
  /** Asked for binary frames (and was told so); JSON lines otherwise. */
  binary: boolean;
  /** String ids below this have been sent to this connection. */
  stringsSent: number;
}

const ENCODING_ACK = `${JSON.stringify({ encoding: BINARY_ENCODING, version: FEED_FRAME_VERSION })}\n`;

export async function startFeed(opts: FeedOptions = {}): Promise<FeedHandle> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? createRandom(opts.seed ?? 1);
  const symbols = resolveSymbols(opts.symbols);
  const host = opts.host ?? '127.0.0.1';
  const maxBacklog = opts.maxSubscriberBacklogBytes ?? 16 * 1024 * 1024;
  const recordLimit = opts.recordLimit ?? 2_000_000;
  const gen = new TickGenerator({
    symbols,
    ticksPerSecond: opts.ticksPerSecond ?? 20,
    branching: opts.branching,
    stepMs: opts.stepMs,
    epoch: opts.epoch ?? Math.floor(clock.now() / 1000) >>> 0,
    clock,
    random: random.fork('feed'),
  });

  let record: Tick[] = [];
  // One string table for the feed's lifetime: ids stay valid across restarts and connections.
  const encoder = new FeedFrameEncoder();
  let emittedCount = 0;
  let slowDropped = 0;
  const subscribers = new Set<Subscriber>();
  let server: Server | undefined;
  let port = opts.port ?? 0;
  let stopped = false;

  gen.onBatch((batch) => {
    emittedCount += batch.length;
    for (const t of batch) record.push(t);
    if (record.length > recordLimit) record = record.slice(record.length - Math.floor(recordLimit / 2));
    if (subscribers.size === 0) return;
    // Each encoding is built at most once per batch, and only if some subscriber takes it.
    let lines: string[] | undefined;
    let all: string | undefined;
    let allFrames: Buffer | undefined | null;
    for (const sub of subscribers) {
      if (sub.socket.writableLength > maxBacklog) {
        slowDropped++;
        subscribers.delete(sub);
        sub.socket.destroy();
        continue;
      }
      if (sub.binary) {
        let frames: Buffer | undefined | null;
        try {
          if (sub.symbols) frames = encoder.ticksFrames(batch, (t) => sub.symbols!.has(t.symbol));
          else frames = allFrames === undefined ? (allFrames = encoder.ticksFrames(batch) ?? null) : allFrames;
        } catch {
          // A name the framing cannot carry (over 255 UTF-8 bytes, or the 65,535th): this subscriber
          // cannot be served in binary, and going back to JSON mid-stream is not in the protocol.
          subscribers.delete(sub);
          sub.socket.destroy();
          continue;
        }
        if (!frames) continue;
        if (sub.stringsSent < encoder.stringCount) {
          sub.socket.write(encoder.stringsFrame(sub.stringsSent)!);
          sub.stringsSent = encoder.stringCount;
        }
        sub.socket.write(frames);
        continue;
      }
      lines ??= batch.map(tickLine);
      let payload: string;
      if (!sub.symbols) payload = all ??= `${lines.join('\n')}\n`;
      else {
        const mine = lines.filter((_, i) => sub.symbols!.has(batch[i]!.symbol));
        if (mine.length === 0) continue;
        payload = `${mine.join('\n')}\n`;
      }
      sub.socket.write(payload);
    }
  });

  const onConnection = (socket: Socket) => {
    socket.setNoDelay(true);
    const sub: Subscriber = { socket, symbols: undefined, binary: false, stringsSent: 0 };
    subscribers.add(sub);
    const splitter = new LineSplitter(64 * 1024, (ev) => {
      if (!('line' in ev)) return;
      try {
        const msg = JSON.parse(ev.line) as { op?: unknown; symbols?: unknown; encoding?: unknown };
        if (msg.op !== 'subscribe') return;
        if (Array.isArray(msg.symbols)) sub.symbols = new Set(msg.symbols.map(String));
        if (msg.encoding === BINARY_ENCODING && !sub.binary) {
          // The ack is the last line: binary frames start right after its newline.
          socket.write(ENCODING_ACK);
          sub.binary = true;
        }
      } catch {
        // Subscribers only ever send a subscribe line; anything else is ignored.
      }
    });
    socket.on('data', (c: Buffer) => splitter.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => subscribers.delete(sub));
    socket.write(`${JSON.stringify({ hello: { epoch: gen.epoch, symbols: symbols.map((s) => s.name), time_msc: clock.now(), encodings: ['json', BINARY_ENCODING] } })}\n`);
  };

  const listen = async () => {
    const srv = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e) => reject(new EaChaosError('E_FEED_LISTEN', `feed cannot listen on ${host}:${port}: ${e.message}`, { cause: e })));
      srv.listen(port, host, () => resolve());
    });
    const addr = srv.address();
    if (addr && typeof addr === 'object') port = addr.port;
    server = srv;
  };

  /** `graceful`: flush what subscribers have buffered before closing (stop); otherwise cut them off (restart). */
  const closeServer = async (graceful: boolean) => {
    const srv = server;
    server = undefined;
    const closing = [...subscribers].map((sub) => {
      const s = sub.socket;
      if (!graceful || s.destroyed) {
        s.destroy();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const t = clock.setTimer(2000, () => s.destroy());
        s.once('close', () => {
          t.cancel();
          resolve();
        });
        s.end();
      });
    });
    subscribers.clear();
    await Promise.all(closing);
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  };

  if (opts.listen !== false) await listen();
  gen.prime();
  gen.start();

  let admin: { url: string; stop(): Promise<void> } | undefined;
  const handle: FeedHandle = {
    host,
    get port() {
      return port;
    },
    get endpoint() {
      return admin ? { host, port, admin: admin.url } : { host, port };
    },
    get epoch() {
      return gen.epoch;
    },
    symbols,
    quote: (s) => gen.quote(s),
    emitted: (symbol) => (symbol ? record.filter((t) => t.symbol === symbol) : record.slice()),
    get admin() {
      return admin?.url;
    },
    setRate: (r) => {
      if (!(r > 0) || r > 1_000_000) throw new EaChaosError('E_USAGE', `ticksPerSecond must be in (0, 1000000], got ${r}`);
      gen.setRate(r);
    },
    stats: () => ({ epoch: gen.epoch, ticksPerSecond: gen.rate, emitted: emittedCount, subscribers: subscribers.size, slowConsumersDropped: slowDropped, lastSeq: gen.lastSeqs() }),
    onTicks: (fn) => gen.onBatch(fn),
    async restart(r = {}) {
      if (stopped) return;
      gen.stop();
      const listening = server !== undefined;
      await closeServer(false);
      if (r.downMs) await clock.sleep(r.downMs);
      gen.newEpoch(gen.epoch + 1);
      if (listening) await listen();
      gen.prime();
      gen.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      gen.stop();
      await admin?.stop();
      await closeServer(true);
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  if (opts.adminPort !== undefined) {
    try {
      admin = await startFeedAdmin(handle, host, opts.adminPort);
    } catch (e) {
      await handle.stop();
      throw e;
    }
  }
  return handle;
}
