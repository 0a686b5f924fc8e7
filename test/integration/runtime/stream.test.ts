import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, startFeed, type BrokerHandle, type FeedHandle } from '../../../simulator/index.ts';
import { startConsumer, checkNoTickLost, type Consumer } from '../../../simulator/consumer/index.ts';
import { parseRuntimeConfig, startRuntime, type RuntimeHandle } from '../../../runtime/main.ts';
import { systemClock } from '../../../core/clock.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { DuckDBInstance } from '@duckdb/node-api';
import { tickHistoryPath } from '../../../runtime/stream/history-thread.ts';
import { getJson, tempDir, testConfig } from './helpers.ts';

let feed: FeedHandle | undefined;
let broker: BrokerHandle | undefined;
let consumer: Consumer | undefined;
let rt: RuntimeHandle | undefined;
const tmp = tempDir('stream');

beforeAll(async () => {
  feed = await startFeed({ seed: 21, port: 0, ticksPerSecond: 200 });
  broker = await startBroker({ seed: 21, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
  consumer = startConsumer({ clock: systemClock });
  const ports = await consumer.ready;
  rt = await startRuntime({
    config: testConfig({
      dir: tmp.dir,
      broker: { host: broker.host, port: broker.port },
      feed: feed.endpoint,
      extra: { stream: { host: '127.0.0.1', udpPort: ports.udpPort, tcpPort: ports.tcpPort } },
    }),
    logger: silentLogger,
  });
});

afterAll(async () => {
  await rt?.stop();
  await consumer?.stop();
  await broker?.stop();
  await feed?.stop();
  tmp.cleanup();
});

describe('runtime with a stream section', () => {
  it("delivers the feed's ticks to a real consumer over UDP, and reports the stream in /state", async () => {
    const c = consumer!;
    await waitFor(() => (c.stats().udpTicks >= 200 ? true : undefined), { what: '200 ticks over UDP', timeoutMs: 15_000 });
    // On a loaded 2-core machine a stalled event loop can miss the 30 ms ack window and the
    // streamer may fall back to TCP for a moment; it must be (back) on UDP, not never leave it.
    const st = await waitFor(
      async () => {
        const s = await getJson(`${rt!.url}/state`);
        return s.components.stream.status === 'udp' ? s : undefined;
      },
      { what: 'the stream on UDP', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(st.components.stream.lastSeq).toBeGreaterThanOrEqual(200);
    expect(st.components.stream.epoch).toBe(rt!.streamer!.epoch);
    // Everything the feed emitted while the runtime was connected reached the consumer (after gap fill).
    const rec = c.record();
    const feedTicks = feed!.emitted();
    const first = rec.ticks.reduce((m, r) => Math.min(m, r.tick.time_msc), Infinity);
    const last = rec.ticks.reduce((m, r) => Math.max(m, r.tick.time_msc), -Infinity);
    await waitFor(() => (c.missingCount() === 0 ? true : undefined), { what: 'gaps filled', timeoutMs: 5000 });
    const r = checkNoTickLost(feedTicks, c.record().ticks, { fromMs: first, toMs: last });
    expect(r.checked).toBeGreaterThan(100);
    expect(r.missing).toEqual([]);
    expect(r.unknownCount).toBe(0);
  });

  it('serves history over TCP from its own DuckDB file, which holds every published tick once the runtime stops', async () => {
    const s = rt!.streamer!;
    const ans = await consumer!.requestHistory({ epoch: s.epoch, fromSeq: 1, toSeq: 50 });
    expect(ans.end.status).toBe('ok');
    expect(ans.ticks.map((t) => t.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // The order store's file does not hold ticks: the history worker has a file of its own.
    const orders = await rt!.duck.instance.connect();
    try {
      const t = await orders.runAndReadAll("SELECT count(*) FROM information_schema.tables WHERE table_name = 'stream_ticks'");
      expect(Number(t.getRowsJS()[0]![0])).toBe(0);
    } finally {
      orders.closeSync();
    }
    // Opened only after stop: a second DuckDB instance on a file another thread has open is unsafe.
    await rt!.stop();
    const file = tickHistoryPath(tmp.dir, 'rt1');
    const db = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
    const conn = await db.connect();
    try {
      const rows = await conn.runAndReadAll('SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM stream_ticks WHERE epoch = $1', [BigInt(s.epoch)]);
      const [count, min, max, distinct] = rows.getRowsJS()[0]!.map(Number);
      expect(count).toBeGreaterThanOrEqual(200);
      expect([min, max, distinct]).toEqual([1, count, count]);
      expect(max).toBe(s.status().lastSeq);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});

describe('runtime.stream config', () => {
  it('names the missing field and rejects a bad history table name', () => {
    const base = testConfig({ dir: tmp.dir, broker: { host: '127.0.0.1', port: 1 } }) as { runtime: Record<string, unknown> };
    const withStream = (stream: unknown) => ({ ...base, runtime: { ...base.runtime, stream } });
    expect(() => parseRuntimeConfig(withStream({ host: '127.0.0.1', udpPort: 9 }), 'cfg')).toThrow(/runtime\.stream\.tcpPort/);
    expect(() => parseRuntimeConfig(withStream({ host: '127.0.0.1', udpPort: 9, tcpPort: 10, history: { table: 'x; drop' } }), 'cfg')).toThrow(/runtime\.stream\.history\.table/);
    const ok = parseRuntimeConfig(withStream({ host: '127.0.0.1', udpPort: 9, tcpPort: 10 }), 'cfg');
    expect(ok.runtime.stream).toEqual({ host: '127.0.0.1', udpPort: 9, tcpPort: 10, history: { table: 'stream_ticks', maxTicks: 100_000 } });
  });
});
