import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventBus } from '../core/events.ts';
import type { Logger } from '../core/log.ts';
import { BrokerClient, BrokerConnectionError } from '../simulator/protocol/broker-client.ts';
import type { MqlTradeRequest, MqlTradeResult, QueryFilter, SymbolInfo, Tick, TradeDeal, TradeOrder, TradePosition } from '../simulator/protocol/types.ts';
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

export interface BrokerGatewayOptions {
  host: string;
  port: number;
  clock: Clock;
  events: EventBus;
  log: Logger;
  /** How often a down broker is probed (trade.brokerProbeIntervalMs). */
  probeIntervalMs: number;
  /** Timeout for queries (order_send has its own). */
  queryTimeoutMs?: number;
}

/**
 * One reconnecting connection to the broker plus a health probe. A connection
 * the broker dropped is simply re-made on the next call; the broker counts as
 * down only when a connection cannot be made, and then a probe runs every
 * `probeIntervalMs` and fires `wake` the moment it gets through, releasing every
 * order that waits out a backoff (seed goal: < 1 s from broker back to order
 * confirmed, which the 16 s backoff step alone could never meet).
 */
export class BrokerGateway implements BrokerPort, AsyncDisposable {
  readonly wake = new Wake();
  status: 'up' | 'down' = 'up';
  private client: BrokerClient | undefined;
  private connecting: Promise<BrokerClient> | undefined;
  private probeTimer: TimerHandle | undefined;
  private stopped = false;
  private downSince = 0;

  constructor(private readonly o: BrokerGatewayOptions) {}

  private async getClient(): Promise<BrokerClient> {
    if (this.client?.connected) return this.client;
    if (this.stopped) throw new BrokerConnectionError('connect', false, new Error('gateway stopped'));
    if (!this.connecting) {
      this.connecting = BrokerClient.connect({ host: this.o.host, port: this.o.port, clock: this.o.clock, connectTimeoutMs: 1000, timeoutMs: this.o.queryTimeoutMs ?? 2000 })
        .then((c) => {
          this.client = c;
          return c;
        })
        .finally(() => {
          this.connecting = undefined;
        });
    }
    try {
      return await this.connecting;
    } catch (e) {
      this.markDown(e);
      throw e;
    }
  }

  private async call<T>(fn: (c: BrokerClient) => Promise<T>): Promise<T> {
    const c = await this.getClient();
    try {
      return await fn(c);
    } catch (e) {
      // A lost connection is re-made on the next call; it is not "broker down" by itself.
      if (e instanceof BrokerConnectionError && !e.delivered) this.markDown(e);
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

  private markDown(e: unknown): void {
    if (this.stopped || this.status === 'down') return;
    this.status = 'down';
    this.downSince = this.o.clock.now();
    this.o.events.emit('trade', 'broker.down', { error: (e as Error)?.message });
    this.o.log.warn({ err: (e as Error)?.message }, 'broker: unreachable; probing');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    this.probeTimer = this.o.clock.setTimer(this.o.probeIntervalMs, () => {
      void (async () => {
        try {
          const c = await (this.client?.connected
            ? this.client
            : BrokerClient.connect({ host: this.o.host, port: this.o.port, clock: this.o.clock, connectTimeoutMs: 500, timeoutMs: this.o.queryTimeoutMs ?? 2000 }));
          await c.request('ping', {}, { timeoutMs: 500 });
          if (this.client !== c) {
            const old = this.client;
            this.client = c;
            void old?.stop();
          }
          this.status = 'up';
          this.o.events.emit('trade', 'broker.up', { downMs: this.o.clock.now() - this.downSince });
          this.o.log.info('broker: reachable again');
          this.wake.fire();
        } catch {
          this.scheduleProbe();
        }
      })();
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.probeTimer?.cancel();
    this.wake.fire();
    const c = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await c?.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
