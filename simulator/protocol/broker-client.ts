import { connect, type Socket } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.ts';
import { EaChaosError } from '../../core/errors.ts';
import { LineSplitter } from './lines.ts';
import type { BrokerAnswer, BrokerOpName, BrokerOps, MqlTradeRequest, MqlTradeResult, QueryFilter } from './types.ts';

/** The broker answered `ok:false` (a protocol error: bad request, unknown symbol...). */
export class BrokerProtocolError extends EaChaosError {
  constructor(
    readonly remoteCode: string,
    message: string,
    readonly op: string,
  ) {
    super('E_BROKER_PROTOCOL', `${op}: ${remoteCode}: ${message}`, { details: { remoteCode, op } });
  }
}

/** No answer within the request's timeout; the connection may still be fine. Outcome unknown. */
export class BrokerTimeoutError extends EaChaosError {
  constructor(
    readonly op: string,
    readonly ms: number,
  ) {
    super('E_BROKER_TIMEOUT', `${op}: no answer within ${ms} ms (outcome unknown)`, { details: { op, ms } });
  }
}

/**
 * The connection was lost or could not be made. `delivered` tells whether the
 * request had been written to the socket: false means it never left (safe to
 * resend, MetaApi's -10), true means the outcome is unknown (MetaApi's -11).
 */
export class BrokerConnectionError extends EaChaosError {
  constructor(
    readonly op: string,
    readonly delivered: boolean,
    cause?: unknown,
  ) {
    super('E_BROKER_CONNECTION', `${op}: connection to broker lost ${delivered ? 'after sending (outcome unknown)' : 'before sending'}`, {
      cause,
      details: { op, delivered },
    });
  }
}

export interface BrokerClientOptions {
  host: string;
  port: number;
  /** Default per-request timeout. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  clock?: Clock;
}

interface Pending {
  op: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

/**
 * A typed JSON-lines client for the simulated broker. One TCP connection,
 * pipelined requests matched by id. After the connection is lost every call
 * fails with BrokerConnectionError; make a new client to reconnect.
 */
export class BrokerClient implements AsyncDisposable {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | undefined;
  private readonly clock: Clock;
  private readonly timeoutMs: number;

  private constructor(
    private readonly socket: Socket,
    opts: BrokerClientOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    const splitter = new LineSplitter(64 * 1024 * 1024, (ev) => {
      if ('line' in ev) this.onLine(ev.line);
    });
    socket.on('data', (c: Buffer) => splitter.push(c));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('socket closed')));
  }

  static connect(opts: BrokerClientOptions): Promise<BrokerClient> {
    const clock = opts.clock ?? systemClock;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: opts.host, port: opts.port });
      socket.setNoDelay(true);
      const timer = clock.setTimer(opts.connectTimeoutMs ?? 5000, () => {
        socket.destroy();
        reject(new BrokerConnectionError('connect', false, new Error('connect timeout')));
      });
      socket.once('error', (e) => {
        timer.cancel();
        reject(new BrokerConnectionError('connect', false, e));
      });
      socket.once('connect', () => {
        timer.cancel();
        socket.removeAllListeners('error');
        resolve(new BrokerClient(socket, opts));
      });
    });
  }

  get connected(): boolean {
    return this.closedError === undefined;
  }

  /** Send one op; resolves with its result, rejects with one of the three error classes above. */
  request<K extends BrokerOpName>(op: K, params: BrokerOps[K]['params'], opts: { timeoutMs?: number } = {}): Promise<BrokerOps[K]['result']> {
    return this.raw(op, params as Record<string, unknown>, opts) as Promise<BrokerOps[K]['result']>;
  }

  /** Send an arbitrary op (for tests of the protocol itself). */
  raw(op: string, params: Record<string, unknown> = {}, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.closedError) return Promise.reject(new BrokerConnectionError(op, false, this.closedError));
    const id = this.nextId++;
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(ms, () => {
        this.pending.delete(id);
        reject(new BrokerTimeoutError(op, ms));
      });
      this.pending.set(id, { op, resolve, reject, timer });
      this.socket.write(`${JSON.stringify({ ...params, id, op })}\n`);
    });
  }

  orderSend(request: MqlTradeRequest, opts?: { timeoutMs?: number }): Promise<MqlTradeResult> {
    return this.request('order_send', { request }, opts);
  }
  historyDeals(filter: QueryFilter = {}) {
    return this.request('history_deals_get', filter);
  }
  positions(filter: QueryFilter = {}) {
    return this.request('positions_get', filter);
  }
  orders(filter: QueryFilter = {}) {
    return this.request('orders_get', filter);
  }

  private onLine(line: string): void {
    let ans: BrokerAnswer;
    try {
      ans = JSON.parse(line) as BrokerAnswer;
    } catch {
      return;
    }
    if (typeof ans.id !== 'number') return;
    const p = this.pending.get(ans.id);
    if (!p) return; // answer to a request that already timed out
    this.pending.delete(ans.id);
    p.timer.cancel();
    if (ans.ok) p.resolve(ans.result);
    else p.reject(new BrokerProtocolError(ans.error.code, ans.error.message, p.op));
  }

  private fail(e: Error): void {
    if (!this.closedError) this.closedError = e;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.timer.cancel();
      p.reject(new BrokerConnectionError(p.op, true, e));
    }
  }

  async stop(): Promise<void> {
    if (!this.closedError) this.closedError = new Error('client stopped');
    this.fail(this.closedError);
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
