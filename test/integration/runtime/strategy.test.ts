import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, startFeed, type BrokerHandle, type FeedHandle } from '../../../simulator/index.ts';
import { startRuntime, type RuntimeHandle } from '../../../runtime/main.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { tempDir, testConfig } from './helpers.ts';

let feed: FeedHandle;
let broker: BrokerHandle;
let rt: RuntimeHandle;
const tmp = tempDir('strategy');

beforeAll(async () => {
  feed = await startFeed({ seed: 11, port: 0, ticksPerSecond: 100 });
  broker = await startBroker({ seed: 11, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
  rt = await startRuntime({
    config: testConfig({
      dir: tmp.dir,
      broker: { host: broker.host, port: broker.port },
      feed: feed.endpoint,
      extra: { strategy: { enabled: true, symbols: ['EURUSD'], ordersPerSecond: 50, maxOrders: 10, deviation: 1000 } },
    }),
    logger: silentLogger,
  });
});

afterAll(async () => {
  await rt?.stop();
  await broker?.stop();
  await feed?.stop();
  tmp.cleanup();
});

describe('seeded strategy', () => {
  it('places its capped number of orders from the quote stream, each filled once at the broker', async () => {
    await waitFor(
      () => {
        const mine = [...rt.engine.orders.values()].filter((o) => o.origin === 'strategy');
        return mine.length === 10 && mine.every((o) => o.state === 'filled') ? mine : undefined;
      },
      { what: '10 strategy orders filled', timeoutMs: 15_000 },
    );
    const deals = broker.ledger.deals.filter((d) => d.magic === 4242);
    expect(deals.length).toBe(10);
    expect(new Set(deals.map((d) => d.comment)).size).toBe(10);
    expect(new Set(deals.map((d) => d.type)).size).toBeGreaterThanOrEqual(1);
  });
});
