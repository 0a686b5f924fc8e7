import { createServer, type Server, type Socket } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.ts';
import { EaChaosError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { createRandom, type Random } from '../../core/random.ts';
import { startFeed, type FeedHandle, type QuoteSource } from '../feed/server.ts';
import type { SymbolSpecInput } from '../feed/symbols.ts';
import { LineSplitter } from '../protocol/lines.ts';
import { MAX_LINE_BYTES, type BrokerAnswer, type BrokerEndpoint, type MqlTradeRequest, type MqlTradeResult, type RequestId } from '../protocol/types.ts';
import { startAdmin, type AdminHandle } from './admin.ts';
import { BrokerEngine } from './engine.ts';
import { mergeFaults, noFaults, parseFaults, type Faults, type FaultsInput } from './faults.ts';
import { Ledger } from './ledger.ts';
import { errorAnswer, parseLine, type ParsedRequest } from './requests.ts';

const MAX_UNREAD_ANSWER_BYTES = 64 * 1024 * 1024;

export interface BrokerOptions {
  seed?: number;
  random?: Random;
  clock?: Clock;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** Admin HTTP port on the same host; 0 = a free port. */
  adminPort?: number;
  /** The quote source to fill at (normally a started feed). Without one the broker runs its own, not listening. */
  feed?: QuoteSource;
  /** Symbols for the broker's own feed (ignored when `feed` is given). */
  symbols?: (SymbolSpecInput | string)[];
  marginMode?: 'netting' | 'hedging';
  dedupe?: boolean;
  balance?: number;
  leverage?: number;
  currency?: string;
  faults?: FaultsInput;
  logger?: Logger;
}

export interface BrokerHandle extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  /** Admin base URL, e.g. http://127.0.0.1:4567 */
  readonly admin: string;
  readonly endpoint: BrokerEndpoint;
  readonly engine: BrokerEngine;
  readonly ledger: Ledger;
  readonly faults: Faults;
  /** Replace the knobs (validated; throws ConfigError naming the field). */
  setFaults(faults: FaultsInput): Faults;
  /** Merge a partial update into the knobs. */
  patchFaults(patch: unknown): Faults;
  /** Close every connection and the listener, stay down `downMs`, listen again on the same port. Ledger kept. */
  restart(opts?: { downMs?: number }): Promise<void>;
  readonly connections: number;
  stop(): Promise<void>;
}

export async function startBroker(opts: BrokerOptions = {}): Promise<BrokerHandle> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? createRandom(opts.seed ?? 1);
  const host = opts.host ?? '127.0.0.1';
  const log = opts.logger ?? silentLogger;
  let ownFeed: FeedHandle | undefined;
  let quotes = opts.feed;
  if (!quotes) {
    ownFeed = await startFeed({ clock, random: random.fork('own-feed'), listen: false, symbols: opts.symbols });
    quotes = ownFeed;
  }
  const ledger = new Ledger();
  const engine = new BrokerEngine({
    clock,
    random,
    quotes,
    ledger,
    marginMode: opts.marginMode,
    dedupe: opts.dedupe,
    balance: opts.balance,
    leverage: opts.leverage,
    currency: opts.currency,
    faults: opts.faults ? parseFaults(opts.faults) : noFaults(),
  });

  const offTicks = quotes.onTicks?.((batch) => {
    try {
      for (const t of batch) engine.onQuote(t);
    } catch (e) {
      log.error({ err: e }, 'quote trigger failed');
    }
  });

  const sockets = new Set<Socket>();
  const timers = new Set<TimerHandle & { requestId: number }>();
  let server: Server | undefined;
  let port = opts.port ?? 0;
  let stopped = false;

  const send = (socket: Socket, ans: BrokerAnswer): boolean => {
    if (socket.destroyed) return false;
    // A client that sends without reading would make answers pile up in memory; cut it off instead.
    if (socket.writableLength > MAX_UNREAD_ANSWER_BYTES) {
      log.warn({ remote: socket.remotePort }, 'client not reading its answers; closing the connection');
      socket.destroy();
      return false;
    }
    socket.write(`${JSON.stringify(ans)}\n`);
    return true;
  };

  const finishSend = (socket: Socket, id: RequestId, requestId: number, timeoutBefore: 'retcode' | 'drop' | undefined, timeoutAfter: 'retcode' | 'drop' | undefined) => {
    let res: MqlTradeResult;
    let fate = timeoutBefore ?? timeoutAfter;
    if (timeoutBefore) {
      engine.abandon(requestId);
      res = engine.timeoutResult(requestId);
    } else {
      res = engine.execute(requestId);
      if (timeoutAfter) res = engine.timeoutResult(requestId);
    }
    if (fate === 'drop') {
      engine.recordAnswer(requestId, undefined, 'dropped');
      socket.destroy();
      return;
    }
    const delivered = send(socket, { id, ok: true, result: res });
    engine.recordAnswer(requestId, delivered ? res : undefined, !delivered ? 'dropped' : fate === 'retcode' ? 'timeout_retcode' : 'answered');
  };

  const handleOrderSend = (socket: Socket, id: RequestId, request: MqlTradeRequest) => {
    const plan = engine.admit(request);
    if (plan.delayMs <= 0) {
      finishSend(socket, id, plan.requestId, plan.timeoutBefore, plan.timeoutAfter);
      return;
    }
    const t = clock.setTimer(plan.delayMs, () => {
      timers.delete(entry);
      try {
        finishSend(socket, id, plan.requestId, plan.timeoutBefore, plan.timeoutAfter);
      } catch (e) {
        log.error({ err: e }, 'order_send failed');
        send(socket, errorAnswer(id, 'E_INTERNAL', (e as Error).message));
      }
    });
    const entry = Object.assign(t, { requestId: plan.requestId });
    timers.add(entry);
  };

  const dispatch = (socket: Socket, req: ParsedRequest) => {
    let result: unknown;
    switch (req.op) {
      case 'order_send':
        handleOrderSend(socket, req.id, req.request);
        return;
      case 'order_check':
        result = engine.orderCheck(req.request);
        break;
      case 'positions_get':
        result = engine.positionsGet(req.filter);
        break;
      case 'orders_get':
        result = engine.ordersGet(req.filter);
        break;
      case 'history_deals_get':
        result = engine.historyDealsGet(req.filter);
        break;
      case 'history_orders_get':
        result = engine.historyOrdersGet(req.filter);
        break;
      case 'symbol_info':
        result = engine.symbolInfo(req.symbol);
        break;
      case 'symbol_info_tick':
        result = engine.symbolInfoTick(req.symbol);
        break;
      case 'account_info':
        result = engine.accountInfo();
        break;
      case 'ping':
        result = { time_msc: clock.now() };
        break;
    }
    send(socket, { id: req.id, ok: true, result });
  };

  const onConnection = (socket: Socket) => {
    if (engine.faults.refuseConnections) {
      socket.resetAndDestroy();
      return;
    }
    socket.setNoDelay(true);
    sockets.add(socket);
    const splitter = new LineSplitter(MAX_LINE_BYTES, (ev) => {
      if ('tooLong' in ev) {
        send(socket, errorAnswer(null, 'E_LINE_TOO_LONG', `line of ${ev.tooLong} bytes exceeds the ${MAX_LINE_BYTES}-byte limit`));
        return;
      }
      const parsed = parseLine(ev.line, engine.knownSymbol);
      if ('ok' in parsed) {
        send(socket, parsed);
        return;
      }
      try {
        dispatch(socket, parsed);
      } catch (e) {
        log.error({ err: e }, 'broker request failed');
        send(socket, errorAnswer(parsed.id, 'E_INTERNAL', (e as Error).message));
      }
    });
    socket.on('data', (c: Buffer) => splitter.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };

  const listen = async () => {
    const srv = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e) => reject(new EaChaosError('E_BROKER_LISTEN', `broker cannot listen on ${host}:${port}: ${e.message}`, { cause: e })));
      srv.listen(port, host, () => resolve());
    });
    const addr = srv.address();
    if (addr && typeof addr === 'object') port = addr.port;
    server = srv;
  };

  const closeTcp = async () => {
    // Requests still waiting out their latency never execute: the server went away.
    for (const t of timers) {
      t.cancel();
      engine.abandon(t.requestId);
      engine.recordAnswer(t.requestId, undefined, 'dropped');
    }
    timers.clear();
    const srv = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  };

  await listen();
  let admin: AdminHandle;
  try {
    admin = await startAdmin({
      host,
      port: opts.adminPort ?? 0,
      engine,
      getFaults: () => engine.faults,
      setFaults: (f) => handle.setFaults(f),
      patchFaults: (p) => handle.patchFaults(p),
      restart: (o) => handle.restart(o),
      now: () => clock.now(),
    });
  } catch (e) {
    offTicks?.();
    await closeTcp();
    await ownFeed?.stop();
    throw e;
  }

  const handle: BrokerHandle = {
    host,
    get port() {
      return port;
    },
    get admin() {
      return admin.url;
    },
    get endpoint() {
      return { host, port, admin: admin.url };
    },
    engine,
    ledger,
    get faults() {
      return engine.faults;
    },
    get connections() {
      return sockets.size;
    },
    setFaults(f) {
      engine.faults = parseFaults(f);
      return engine.faults;
    },
    patchFaults(p) {
      engine.faults = mergeFaults(engine.faults, p);
      return engine.faults;
    },
    async restart(r = {}) {
      if (stopped) return;
      await closeTcp();
      if (r.downMs) await clock.sleep(r.downMs);
      if (!stopped) await listen();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      offTicks?.();
      await closeTcp();
      await admin.stop();
      await ownFeed?.stop();
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  return handle;
}
