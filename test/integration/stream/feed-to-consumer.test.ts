import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { waitFor } from '../../../core/wait.ts';
import { NO_IMPAIRMENTS } from '../../../faultproxy/impairer.ts';
import { DuckDbTickHistory } from '../../../runtime/stream/history-duckdb.ts';
import { startTickStreamer } from '../../../runtime/stream/streamer.ts';
import { checkNoTickLost, startConsumer } from '../../../simulator/consumer/index.ts';
import { startFeed } from '../../../simulator/feed/server.ts';
import { FeedClient } from '../../../simulator/protocol/feed-client.ts';
import { newBus, RecordingNotifier, startRelay, streamConfig } from './helpers.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('feed -> streamer -> consumer through a lossy, reordering, duplicating UDP relay', () => {
  it("the consumer ends with every tick of the feed's own record", async () => {
    const feed = await startFeed({ seed: 5, ticksPerSecond: 2000, symbols: ['EURUSD', 'GBPUSD', 'USDJPY'] });
    cleanups.push(() => feed.stop());
    const consumer = startConsumer({ clock: systemClock });
    cleanups.push(() => consumer.stop());
    const ports = await consumer.ready;
    const relay = await startRelay(ports.udpPort, 11);
    cleanups.push(() => relay.stop());
    relay.relay.setImpairments('upstream', { ...NO_IMPAIRMENTS, loss: 0.05, duplicate: 0.02, reorder: 0.02, reorder_window: 3 });
    const history = await DuckDbTickHistory.open();
    cleanups.push(() => history.close());
    const streamer = startTickStreamer({
      clock: systemClock,
      random: createRandom(9),
      config: streamConfig(),
      events: newBus(),
      notifier: new RecordingNotifier(),
      history,
      target: { host: '127.0.0.1', udpPort: relay.port, tcpPort: ports.tcpPort },
    });
    cleanups.push(() => streamer.stop());
    await waitFor(() => streamer.status().tcp === 'connected' || undefined, { what: 'tcp', timeoutMs: 5000 });
    const client = await FeedClient.connect({ host: feed.host, port: feed.port, onTick: (t) => streamer.publish(t) });
    cleanups.push(() => client.stop());
    await waitFor(() => streamer.status().lastSeq > 1500 || undefined, { what: 'ticks flowing', timeoutMs: 10_000 });
    await client.stop();
    const n = streamer.status().lastSeq;
    await waitFor(() => (consumer.tracker.highest(streamer.epoch) === n && consumer.missingCount() === 0) || undefined, {
      what: 'all ticks in after gap fill',
      timeoutMs: 10_000,
    });
    const fed = feed.emitted();
    const received = consumer.record().ticks;
    // The feed's record from the first tick the runtime got to the last one it got before unsubscribing.
    const k = (t: { stream?: string; symbol: string; epoch?: number; seq?: number }) => `${t.stream ?? t.symbol}|${t.epoch}|${t.seq}`;
    const first = (await history.bySeq(streamer.epoch, 1, 1, 1))[0]!.tick;
    const last = (await history.bySeq(streamer.epoch, n, n, 1))[0]!.tick;
    const from = fed.findIndex((t) => k(t) === k(first));
    const to = fed.findIndex((t) => k(t) === k(last));
    expect(from).toBeGreaterThanOrEqual(0);
    const check = checkNoTickLost(fed.slice(from, to + 1), received);
    expect(check.missing).toEqual([]);
    expect(check.ok).toBe(true);
    expect(check.checked).toBe(n);
    expect(check.unknownCount).toBe(0);
    // The relay really lost datagrams on the way (some may have been pings; lost ticks came back from history).
    expect(relay.relay.impairers.upstream.stats.dropped).toBeGreaterThan(0);
  });
});
