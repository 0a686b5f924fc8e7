import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventBus } from '../core/events.ts';
import type { Logger } from '../core/log.ts';
import { BrokerClient, BrokerConnectionError } from '../simulator/protocol/broker-client.ts';

export interface AccessPointOptions {
  /** `primary`, `backup-1`, ...: names the access point in events and logs. */
  name: string;
  host: string;
  port: number;
  clock: Clock;
  events: EventBus;
  log: Logger;
  /** How often a down access point is probed (trade.brokerProbeIntervalMs). */
  probeIntervalMs: number;
  queryTimeoutMs?: number;
  /** Called when a probe gets through after the access point was down. */
  onUp: () => void;
  /** Whether events name the access point (only when there is more than one). */
  labelled: boolean;
}

/**
 * One reconnecting connection to one broker access point (an MT5 terminal's
 * main or backup server) plus its health probe. A connection the server dropped
 * is simply re-made on the next call; the access point counts as down only when
 * a connection cannot be made, and then a probe runs every `probeIntervalMs`
 * and calls `onUp` the moment it gets through.
 */
export class AccessPoint {
  status: 'up' | 'down' = 'up';
  private client: BrokerClient | undefined;
  private connecting: Promise<BrokerClient> | undefined;
  private probeTimer: TimerHandle | undefined;
  private stopped = false;
  private downSince = 0;

  constructor(readonly o: AccessPointOptions) {}

  get name(): string {
    return this.o.name;
  }

  private label(): Record<string, unknown> {
    return this.o.labelled ? { accessPoint: this.o.name, endpoint: `${this.o.host}:${this.o.port}` } : {};
  }

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

  async call<T>(fn: (c: BrokerClient) => Promise<T>): Promise<T> {
    const c = await this.getClient();
    try {
      return await fn(c);
    } catch (e) {
      // A lost connection is re-made on the next call; it is not "broker down" by itself.
      if (e instanceof BrokerConnectionError && !e.delivered) this.markDown(e);
      throw e;
    }
  }

  /**
   * Mark down and start probing. Also used when a circuit breaker opened on
   * timeouts while connections still succeed: the probe's ping then decides
   * when the access point is healthy again.
   */
  markDown(e: unknown): void {
    if (this.stopped || this.status === 'down') return;
    this.status = 'down';
    this.downSince = this.o.clock.now();
    this.o.events.emit('trade', 'broker.down', { error: (e as Error)?.message, ...this.label() });
    this.o.log.warn({ err: (e as Error)?.message, accessPoint: this.o.name }, 'broker: unreachable; probing');
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
          if (this.stopped) {
            if (c !== this.client) void c.stop();
            return;
          }
          if (this.client !== c) {
            const old = this.client;
            this.client = c;
            void old?.stop();
          }
          this.status = 'up';
          this.o.events.emit('trade', 'broker.up', { downMs: this.o.clock.now() - this.downSince, ...this.label() });
          this.o.log.info({ accessPoint: this.o.name }, 'broker: reachable again');
          this.o.onUp();
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
    const c = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await c?.stop();
  }
}
