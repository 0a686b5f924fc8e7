import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { waitFor } from '../../../core/wait.ts';
import { encode } from '../../../runtime/stream/codec.ts';
import { MemoryTickHistory } from '../../../runtime/stream/history.ts';
import { startTickStreamer } from '../../../runtime/stream/streamer.ts';
import { startConsumer } from '../../../simulator/consumer/consumer.ts';
import { newBus, RecordingNotifier, streamConfig, tick } from './helpers.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(epoch?: number) {
  const consumer = startConsumer({ clock: systemClock });
  cleanups.push(() => consumer.stop());
  const ports = await consumer.ready;
  const events = newBus();
  const mk = (ep?: number, seed = 3) => {
    const s = startTickStreamer({
      clock: systemClock,
      random: createRandom(seed),
      config: streamConfig(),
      events,
      notifier: new RecordingNotifier(),
      history: new MemoryTickHistory(),
      target: { host: '127.0.0.1', udpPort: ports.udpPort, tcpPort: ports.tcpPort },
      maxHistoryTicks: 50,
      ...(ep === undefined ? {} : { epoch: ep }),
    });
    cleanups.push(() => s.stop());
    return s;
  };
  const streamer = mk(epoch);
  await waitFor(() => streamer.status().tcp === 'connected' || undefined, { what: 'tcp', timeoutMs: 5000 });
  return { consumer, ports, events, streamer, mk };
}

function udpSender() {
  const s = createSocket('udp4');
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return (buf: Buffer, port: number) => new Promise<void>((r) => s.send(buf, port, '127.0.0.1', () => r()));
}

describe('bad input on the tick stream', () => {
  it('counts garbled, truncated and duplicate datagrams at both ends and keeps streaming without loss', async () => {
    const { consumer, ports, streamer } = await setup();
    for (let i = 1; i <= 100; i++) streamer.publish(tick(i));
    await waitFor(() => consumer.tracker.highest(streamer.epoch) === 100 || undefined, { what: '100 ticks', timeoutMs: 5000 });
    const send = udpSender();
    const frame = encode({ kind: 'tick', epoch: streamer.epoch, seq: 50, tick: tick(50) });
    const garbled = Buffer.from(frame);
    garbled[garbled.length - 3] = garbled[garbled.length - 3]! ^ 0x20;
    await send(Buffer.from('not a frame at all'), ports.udpPort);
    await send(frame.subarray(0, frame.length - 5), ports.udpPort);
    await send(garbled, ports.udpPort);
    await send(frame, ports.udpPort); // a duplicate of seq 50
    await send(Buffer.alloc(0), ports.udpPort);
    // Garbage to the sender's ack socket too.
    await send(Buffer.from('garbage ack'), streamer.status().udpPort);
    await send(garbled, streamer.status().udpPort);
    await waitFor(() => (consumer.stats().badFrames >= 4 && consumer.stats().duplicates >= 1) || undefined, { what: 'counted', timeoutMs: 5000 });
    await waitFor(() => streamer.status().stats.badFrames >= 2 || undefined, { what: 'sender counted', timeoutMs: 5000 });
    expect(consumer.stats().badFramesByCode).toMatchObject({ E_MAGIC: 1, E_SHORT: expect.any(Number), E_CRC: 1 });
    for (let i = 101; i <= 200; i++) streamer.publish(tick(i));
    await waitFor(() => (consumer.tracker.highest(streamer.epoch) === 200 && consumer.missingCount() === 0) || undefined, { what: 'all 200', timeoutMs: 5000 });
    for (let s = 1; s <= 200; s++) expect(consumer.tracker.has(streamer.epoch, s)).toBe(true);
    // Garbage never takes the UDP path down (a load-induced false switch returns to UDP on its own).
    await waitFor(() => (streamer.status().mode === 'udp' ? true : undefined), { what: 'on UDP', timeoutMs: 5000 });
  });

  it('answers bad history ranges with an error end marker, never a crash', async () => {
    const { consumer, streamer } = await setup();
    for (let i = 1; i <= 80; i++) streamer.publish(tick(i));
    await waitFor(() => consumer.tracker.highest(streamer.epoch) === 80 || undefined, { what: '80 ticks', timeoutMs: 5000 });
    const ep = streamer.epoch;
    const ok = await consumer.requestHistory({ epoch: ep, fromSeq: 10, toSeq: 19 });
    expect(ok.end).toMatchObject({ status: 'ok', count: 10, missing: 0 });
    expect(ok.ticks.map((t) => t.seq)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const byTime = await consumer.requestHistory({ epoch: ep, fromMs: tick(5).time_msc, toMs: tick(7).time_msc });
    expect(byTime.ticks.map((t) => t.seq)).toEqual([5, 6, 7]);
    const codes = [];
    for (const req of [
      { epoch: ep, fromSeq: 20, toSeq: 10 },
      { epoch: ep, fromSeq: 70, toSeq: 90 },
      { epoch: ep, fromSeq: 1, toSeq: 80 },
      { epoch: ep + 1, fromSeq: 1, toSeq: 5 },
      { epoch: ep, fromMs: 10, toMs: 5 },
      { epoch: ep, fromMs: 0, toMs: 1 },
    ]) {
      const a = await consumer.requestHistory(req);
      expect(a.end.status).toBe('error');
      codes.push(a.end.code);
    }
    expect(codes).toEqual(['E_RANGE_INVALID', 'E_RANGE_UNAVAILABLE', 'E_RANGE_TOO_LARGE', 'E_RANGE_UNAVAILABLE', 'E_RANGE_INVALID', 'E_RANGE_UNAVAILABLE']);
    expect(streamer.status().stats.historyRejected).toBe(6);
    streamer.publish(tick(81));
    await waitFor(() => consumer.tracker.highest(ep) === 81 || undefined, { what: 'still streaming', timeoutMs: 5000 });
  });

  it('reports a sequence reset without an epoch change', async () => {
    const { consumer, streamer, mk } = await setup(4242);
    for (let i = 1; i <= 20; i++) streamer.publish(tick(i));
    await waitFor(() => consumer.tracker.highest(4242) === 20 || undefined, { what: '20 ticks', timeoutMs: 5000 });
    // A second sender reusing the epoch restarts at seq 1 with other ticks.
    const second = mk(4242, 4);
    await second.ready;
    for (let i = 1; i <= 5; i++) second.publish(tick(i, 'GBPUSD'));
    await waitFor(() => consumer.stats().conflicts >= 5 || undefined, { what: 'conflicts', timeoutMs: 5000 });
    expect(consumer.stats().seqResets).toBe(1);
    const rec = consumer.record();
    // Every conflicting tick is kept with its content: nothing is dropped silently.
    expect(rec.anomalies.filter((a) => a.kind === 'conflict').map((a) => a.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rec.anomalies.filter((a) => a.kind === 'seq_reset')).toHaveLength(1);
  });
});
