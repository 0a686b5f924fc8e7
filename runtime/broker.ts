import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import type { Clock } from '../core/clock.ts';
import type { EventBus } from '../core/events.ts';
import type { Logger } from '../core/log.ts';
import { BrokerConnectionError, BrokerTimeoutError, type BrokerClient } from '../simulator/protocol/broker-client.ts';
import type { MqlTradeRequest, MqlTradeResult, QueryFilter, SymbolInfo, Tick, TradeDeal, TradeOrder, TradePosition } from '../simulator/protocol/types.ts';
import { AccessPoint } from './broker-access-point.ts';
import { Wake } from './policy.ts';

export { BrokerConnectionError, BrokerProtocolError, BrokerTimeoutError } from '../simulator/protocol/broker-client.ts';

/** What the order engine needs from a broker; BrokerGateway implements it over the simulator's wire protocol. */
export interface BrokerPort {
  readonly wake: Wake;
  readonly status: 'up' | 'down';
  orderSend(request: MqlTradeRequest, timeoutMs: number): Promise<MqlTradeResult>;
  historyDeals(filter: QueryFilter): Promise<TradeDeal[]>;
  orders(filter: QueryFilter): Promise<TradeOrder[]>;
  positions(filter: QueryFilter): Promise<TradePosition[]>;
  symbolInfo(symbol: string): Promise<SymbolInfo>;
  tick(symbol: string): Promise<Tick | null>;
}

export interface BrokerEndpoint {
  host: string;
  port: number;
}

export interface BrokerGatewayOptions {
  host: string;
  port: number;
  /**
   * Backup access points of the same broker (an MT5 terminal's backup servers),
   * in the order they are tried after the primary `host:port`.
   */
  backups?: readonly BrokerEndpoint[];
  /** Consecutive connection failures or timeouts on the active access point that open its circuit breaker. */
  failoverAfterFailures?: number;
  clock: Clock;
  events: EventBus;
  log: Logger;
  /** How often a down access point is probed (trade.brokerProbeIntervalMs). */
  probeIntervalMs: number;
  /** Timeout for queries (order_send has its own). */
  queryTimeoutMs?: number;
  /** Called after a switch of access point (failover or return to the primary). */
  onSwitch?: (to: { index: number; name: string }) => void;
  /** An access point's probe got through again (after the switch, if one follows). */
  onUp?: (point: { index: number; name: string }) => void;
}

/** Failures that say "this access point is not serving", as opposed to a broker answer. */
function accessPointFailure(e: unknown): boolean {
  return e instanceof BrokerConnectionError || e instanceof BrokerTimeoutError;
}

/**
 * Far beyond any run: cockatiel would half-open on its own (wall-clock) timer; a
 * broken access point is instead re-admitted by its health probe on the Clock,
 * which installs a fresh breaker.
 */
const NEVER_HALF_OPEN = 2 ** 31 - 1;

/**
 * The runtime's connection to the broker (seed §2.1 Trade Execution: "retry with
 * backoff and failover to secondary"). One `AccessPoint` per configured endpoint,
 * primary first. Calls go to the active access point through its cockatiel circuit
 * breaker; when that breaker opens (N consecutive connection failures or
 * timeouts) the gateway fails over to the next access point that is up and fires
 * `wake`, so orders waiting out a backoff are retried there at once. Nothing is
 * resent because of a switch: an order whose answer was lost stays `unknown` and
 * is reconciled from the broker's deals through the new access point. When the
 * primary's health probe sees it back, the gateway returns to it.
 *
 * With a single endpoint there is no breaker and it behaves as one reconnecting
 * connection plus a probe whose success fires `wake` (seed goal: < 1 s from
 * broker back to order confirmed, which the 16 s backoff step alone could never meet).
 */
export class BrokerGateway implements BrokerPort, AsyncDisposable {
  readonly wake = new Wake();
  private readonly points: AccessPoint[];
  private readonly breakers: (CircuitBreakerPolicy | undefined)[];
  private active = 0;
  private stopped = false;

  constructor(private readonly o: BrokerGatewayOptions) {
    const endpoints = [{ host: o.host, port: o.port }, ...(o.backups ?? [])];
    const labelled = endpoints.length > 1;
    this.points = endpoints.map(
      (ep, i) =>
        new AccessPoint({
          name: i === 0 ? 'primary' : `backup-${i}`,
          host: ep.host,
          port: ep.port,
          clock: o.clock,
          events: o.events,
          log: o.log,
          probeIntervalMs: o.probeIntervalMs,
          ...(o.queryTimeoutMs !== undefined ? { queryTimeoutMs: o.queryTimeoutMs } : {}),
          labelled,
          onUp: () => this.pointUp(i),
        }),
    );
    this.breakers = this.points.map((_, i) => (labelled ? this.newBreaker(i) : undefined));
  }

  /** Which access point calls go to now (0 = primary). */
  get activeIndex(): number {
    return this.active;
  }

  get activeName(): string {
    return this.points[this.active]!.name;
  }

  get status(): 'up' | 'down' {
    return this.points[this.active]!.status;
  }

  private newBreaker(i: number): CircuitBreakerPolicy {
    const b = circuitBreaker(handleWhen(accessPointFailure), { halfOpenAfter: NEVER_HALF_OPEN, breaker: new ConsecutiveBreaker(this.o.failoverAfterFailures ?? 3) });
    b.onBreak(() => this.pointBroken(i));
    return b;
  }

  private isOpen(i: number): boolean {
    const b = this.breakers[i];
    return b !== undefined && b.state !== CircuitState.Closed;
  }

  private pointBroken(i: number): void {
    if (this.stopped) return;
    const p = this.points[i]!;
    this.o.events.emit('trade', 'broker.circuit_open', { accessPoint: p.name, failures: this.o.failoverAfterFailures ?? 3 });
    // Timeouts open the breaker without a failed connect: probe it so it can be re-admitted.
    p.markDown(new Error('circuit breaker open'));
    if (i !== this.active) return;
    const order = this.points.map((_, j) => j).filter((j) => j !== i);
    const next = order.find((j) => !this.isOpen(j) && this.points[j]!.status === 'up') ?? order.find((j) => !this.isOpen(j));
    if (next !== undefined) this.switchTo(next, 'broker.failover');
  }

  private pointUp(i: number): void {
    if (this.stopped) return;
    if (this.breakers[i]) this.breakers[i] = this.newBreaker(i);
    const cur = this.points[this.active]!;
    if (i !== this.active && (i < this.active || cur.status === 'down' || this.isOpen(this.active))) {
      this.switchTo(i, i === 0 ? 'broker.failback' : 'broker.failover');
    }
    this.wake.fire();
    this.o.onUp?.({ index: i, name: this.points[i]!.o.name });
  }

  private switchTo(j: number, type: 'broker.failover' | 'broker.failback'): void {
    const from = this.points[this.active]!;
    const to = this.points[j]!;
    this.active = j;
    this.o.events.emit('trade', type, { from: from.name, to: to.name, endpoint: `${to.o.host}:${to.o.port}` });
    this.o.log.warn({ from: from.name, to: to.name }, type === 'broker.failback' ? 'broker: back on the primary access point' : 'broker: failing over to the next access point');
    this.o.onSwitch?.({ index: j, name: to.name });
    // Orders waiting out a backoff retry on the new access point now.
    this.wake.fire();
  }

  private async call<T>(fn: (c: BrokerClient) => Promise<T>): Promise<T> {
    const i = this.active;
    const p = this.points[i]!;
    const b = this.breakers[i];
    if (!b) return p.call(fn);
    try {
      return await b.execute(() => p.call(fn));
    } catch (e) {
      // An open breaker never let the request leave: to the engine it is "not delivered".
      if (accessPointFailure(e)) throw e;
      if (isBrokenCircuitError(e)) {
        throw new BrokerConnectionError('connect', false, e as Error);
      }
      throw e;
    }
  }

  orderSend(request: MqlTradeRequest, timeoutMs: number): Promise<MqlTradeResult> {
    return this.call((c) => c.orderSend(request, { timeoutMs }));
  }
  historyDeals(filter: QueryFilter): Promise<TradeDeal[]> {
    return this.call((c) => c.historyDeals(filter));
  }
  orders(filter: QueryFilter): Promise<TradeOrder[]> {
    return this.call((c) => c.orders(filter));
  }
  positions(filter: QueryFilter): Promise<TradePosition[]> {
    return this.call((c) => c.positions(filter));
  }
  symbolInfo(symbol: string): Promise<SymbolInfo> {
    return this.call((c) => c.request('symbol_info', { symbol }));
  }
  tick(symbol: string): Promise<Tick | null> {
    return this.call((c) => c.request('symbol_info_tick', { symbol }));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake.fire();
    await Promise.all(this.points.map((p) => p.stop()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
