import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { freePort } from '../../../lab/ports.ts';
import { BrokerConnectionError, BrokerGateway } from '../../../runtime/broker.ts';
import { startBroker, type BrokerHandle } from '../../../simulator/index.ts';

/** A TCP relay in front of the broker: the primary access point, which the test can take down. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly upstream: { host: string; port: number }) {}
  async up(): Promise<void> {
    const server = createServer((down) => {
      const up = createConnection(this.upstream);
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      down.pipe(up).pipe(down);
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }
}

let broker: BrokerHandle;
let relay: Relay;
let gw: BrokerGateway | undefined;

beforeAll(async () => {
  broker = await startBroker({ seed: 5, port: 0, adminPort: 0 });
  relay = new Relay({ host: broker.host, port: broker.port });
  await relay.up();
});

afterAll(async () => {
  await gw?.stop();
  await relay?.down();
  await broker?.stop();
});

describe('BrokerGateway failover between access points (real sockets)', () => {
  it('opens the primary breaker, fails over to the backup, and returns to the primary when its probe sees it back', async () => {
    const events = new EventBus(systemClock);
    gw = new BrokerGateway({ host: '127.0.0.1', port: relay.port, backups: [{ host: broker.host, port: broker.port }], failoverAfterFailures: 3, clock: systemClock, events, log: silentLogger, probeIntervalMs: 20 });
    await gw.symbolInfo('EURUSD');
    expect(gw.activeName).toBe('primary');

    await relay.down();
    let failures = 0;
    // Bounded: the breaker opens after 3 consecutive failures, so the 4th call goes to the backup.
    for (let i = 0; i < 10 && gw.activeIndex === 0; i++) {
      await gw.symbolInfo('EURUSD').catch((e: unknown) => {
        expect(e).toBeInstanceOf(BrokerConnectionError);
        failures++;
      });
    }
    expect(failures).toBe(3);
    expect(gw.activeName).toBe('backup-1');
    expect((await gw.symbolInfo('EURUSD')).name).toBe('EURUSD');
    const types = events.since(0).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['broker.down', 'broker.circuit_open', 'broker.failover']));
    expect(events.since(0).find((e) => e.type === 'broker.failover')?.data).toMatchObject({ from: 'primary', to: 'backup-1' });

    await relay.up();
    await waitFor(() => (gw!.activeIndex === 0 ? true : undefined), { what: 'failback to the primary', timeoutMs: 5000, intervalMs: 5 });
    expect(events.since(0).some((e) => e.type === 'broker.failback')).toBe(true);
    // The primary has a fresh breaker: calls go through it again.
    expect((await gw.symbolInfo('EURUSD')).name).toBe('EURUSD');
    expect(gw.activeName).toBe('primary');
  });

  it('tells its owner when the probe sees the broker back, so lost answers are reconciled at once', async () => {
    const ups: string[] = [];
    const single = new BrokerGateway({ host: '127.0.0.1', port: relay.port, clock: systemClock, events: new EventBus(systemClock), log: silentLogger, probeIntervalMs: 20, onUp: (p) => ups.push(p.name) });
    try {
      await single.symbolInfo('EURUSD');
      await relay.down();
      // The first call may still go out on the old socket (a lost answer, not "down"); the next one
      // finds the port closed, and the probing starts.
      for (let i = 0; i < 2; i++) await expect(single.symbolInfo('EURUSD')).rejects.toBeInstanceOf(BrokerConnectionError);
      expect(ups).toEqual([]);
      await relay.up();
      await waitFor(() => (ups.length > 0 ? true : undefined), { what: 'onUp after the broker is back', timeoutMs: 5000, intervalMs: 5 });
      expect(ups).toEqual(['primary']);
    } finally {
      await single.stop();
    }
  });

  it('with a single endpoint there is no breaker: every call reaches the connection', async () => {
    // A free port nobody listens on: every connect is refused.
    const single = new BrokerGateway({ host: '127.0.0.1', port: await freePort(), clock: systemClock, events: new EventBus(systemClock), log: silentLogger, probeIntervalMs: 1000 });
    try {
      for (let i = 0; i < 5; i++) await expect(single.symbolInfo('EURUSD')).rejects.toBeInstanceOf(BrokerConnectionError);
      expect(single.activeName).toBe('primary');
    } finally {
      await single.stop();
    }
  });
});
