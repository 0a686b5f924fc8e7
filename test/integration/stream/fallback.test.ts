import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { waitFor } from '../../../core/wait.ts';
import { startTickStreamer, type TickStreamer } from '../../../runtime/stream/streamer.ts';
import { DuckDbTickHistory } from '../../../runtime/stream/history-duckdb.ts';
import { MemoryTickHistory } from '../../../runtime/stream/history.ts';
import { startConsumer, type Consumer } from '../../../simulator/consumer/consumer.ts';
import { newBus, now, RecordingNotifier, startRelay, steadyPublisher, streamConfig, tick } from './helpers.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function expectAllReceived(consumer: Consumer, epoch: number, n: number) {
  const missing: number[] = [];
  for (let s = 1; s <= n; s++) if (!consumer.tracker.has(epoch, s)) missing.push(s);
  expect(missing.slice(0, 20)).toEqual([]);
  expect(consumer.record().anomalies).toEqual([]);
}

describe('tick streamer over the fault proxy UDP relay', () => {
  it('falls back to TCP when UDP is blackholed mid-stream, returns to UDP, and leaves no gap', async () => {
    const consumer = startConsumer({ clock: systemClock });
    cleanups.push(() => consumer.stop());
    const ports = await consumer.ready;
    const relay = await startRelay(ports.udpPort);
    cleanups.push(() => relay.stop());
    const history = await DuckDbTickHistory.open({ path: ':memory:' });
    cleanups.push(() => history.close());
    const events = newBus();
    const notifier = new RecordingNotifier();
    const streamer: TickStreamer = startTickStreamer({
      clock: systemClock,
      random: createRandom(1),
      config: streamConfig({ heartbeatIntervalMs: 10, missedHeartbeats: 3 }),
      events,
      notifier,
      history,
      target: { host: '127.0.0.1', udpPort: relay.port, tcpPort: ports.tcpPort },
    });
    cleanups.push(() => streamer.stop());
    await streamer.ready;
    await waitFor(() => streamer.status().tcp === 'connected' || undefined, { what: 'tcp connected', timeoutMs: 5000 });

    let blackholedAt = 0;
    let firstTcpAfter = 0;
    const pub = steadyPublisher((i) => streamer.publish(tick(i)), 1, 2);
    cleanups.push(() => pub.stop());
    // Ticks published on the first rendezvous after the blackhole: compare against consumer arrival via TCP.
    const unsubscribe = events.subscribe(() => undefined);
    cleanups.push(unsubscribe);
    await waitFor(() => consumer.stats().udpTicks > 200 || undefined, { what: 'ticks over UDP', timeoutMs: 5000 });
    const tcpBefore = consumer.stats().tcpTicks;

    relay.blackhole(true);
    blackholedAt = now();
    await waitFor(
      () => {
        if (!firstTcpAfter && consumer.stats().tcpTicks > tcpBefore) firstTcpAfter = now();
        return firstTcpAfter || undefined;
      },
      { what: 'first tick over TCP', timeoutMs: 5000, intervalMs: 1 },
    );
    const fallbackMs = firstTcpAfter - blackholedAt;
    console.log(`UDP blackhole -> first tick over TCP: ${fallbackMs.toFixed(1)} ms (polling at 1 ms)`);
    expect(streamer.status().mode).toBe('tcp');
    const switched = events.since().filter((e) => e.type === 'tick.switched');
    expect(switched.map((e) => [e.data?.from, e.data?.to])).toContainEqual(['udp', 'tcp']);

    await waitFor(() => consumer.stats().tcpTicks > tcpBefore + 100 || undefined, { what: 'ticks over TCP', timeoutMs: 5000 });
    relay.blackhole(false);
    const udpBefore = consumer.stats().udpTicks;
    await waitFor(() => (streamer.status().mode === 'udp' && consumer.stats().udpTicks > udpBefore + 100) || undefined, {
      what: 'back on UDP',
      timeoutMs: 5000,
    });
    pub.stop();
    const n = streamer.status().lastSeq;
    await waitFor(() => (consumer.missingCount() === 0 && consumer.tracker.highest(streamer.epoch) === n) || undefined, {
      what: 'gaps filled',
      timeoutMs: 10_000,
    });
    expectAllReceived(consumer, streamer.epoch, n);
    expect(consumer.stats().historyTicks).toBeGreaterThan(0);
    // A stalled event loop on this 2-core machine can add harmless false switches around these two.
    const targets = events.since().filter((e) => e.type === 'tick.switched').map((e) => e.data?.to);
    expect(targets[0]).toBe('tcp');
    expect(targets.indexOf('udp')).toBeGreaterThan(0);
    expect(targets).not.toContain('stopped');
    expect(notifier.alerts).toEqual([]);
  });

  it('stops streaming and alerts when UDP and TCP are both down, then resumes from the latest tick', async () => {
    const c1 = startConsumer({ clock: systemClock });
    const ports = await c1.ready;
    const history = new MemoryTickHistory();
    const events = newBus();
    const notifier = new RecordingNotifier();
    // timeScale 0.05: reconnect every 100 ms, 10 attempts = 1 s before TCP gives up.
    const streamer = startTickStreamer({
      clock: systemClock,
      random: createRandom(2),
      config: streamConfig({ heartbeatIntervalMs: 10, missedHeartbeats: 3 }, 0.05),
      events,
      notifier,
      history,
      target: { host: '127.0.0.1', udpPort: ports.udpPort, tcpPort: ports.tcpPort },
    });
    cleanups.push(() => streamer.stop());
    await waitFor(() => streamer.status().tcp === 'connected' || undefined, { what: 'tcp connected', timeoutMs: 5000 });
    const pub = steadyPublisher((i) => streamer.publish(tick(i, i % 2 ? 'EURUSD' : 'GBPUSD')), 2, 1);
    cleanups.push(() => pub.stop());
    await waitFor(() => c1.stats().udpTicks > 50 || undefined, { what: 'ticks', timeoutMs: 5000 });

    await c1.stop();
    await waitFor(() => notifier.alerts.find((a) => a.code === 'tick.stream_stopped'), { what: 'stream_stopped alert', timeoutMs: 5000 });
    expect(streamer.status().mode).toBe('stopped');
    const stoppedAlert = notifier.alerts.find((a) => a.code === 'tick.stream_stopped')!;
    expect(stoppedAlert.severity).toBe('critical');
    expect(events.since().some((e) => e.type === 'tick.stream_stopped')).toBe(true);
    const unsentBefore = streamer.status().stats.unsent;
    await waitFor(() => streamer.status().stats.unsent > unsentBefore + 20 || undefined, { what: 'ticks held while stopped', timeoutMs: 5000 });

    // Both paths come back on the same ports within the reconnect budget.
    const c2 = startConsumer({ clock: systemClock, udpPort: ports.udpPort, tcpPort: ports.tcpPort });
    cleanups.push(() => c2.stop());
    await c2.ready;
    await waitFor(() => (streamer.status().mode === 'udp' ? true : undefined), { what: 'resumed on UDP', timeoutMs: 5000 });
    expect(events.since().some((e) => e.type === 'tick.stream_resumed')).toBe(true);
    pub.stop();
    const n = streamer.status().lastSeq;
    await waitFor(() => (c2.missingCount() === 0 && c2.tracker.highest(streamer.epoch) === n) || undefined, {
      what: 'c2 caught up through history',
      timeoutMs: 10_000,
    });
    // The new consumer backfills from seq 1: everything published, including while stopped, is served from history.
    expectAllReceived(c2, streamer.epoch, n);
  });
});
