/**
 * Issue 4 targets: broker ≥ 5,000 order_send/s on one connection with p99 ≤ 2 ms
 * (no injected latency), and the feed ≥ 100,000 ticks/s to one TCP subscriber
 * with none lost.
 *
 *   npm run bench:sim [-- --orders 20000 --feed-rate 150000 --feed-seconds 5]
 */
import { startBroker } from '../simulator/broker/server.ts';
import { startFeed } from '../simulator/feed/server.ts';
import { BrokerClient } from '../simulator/protocol/broker-client.ts';
import { waitFor } from '../core/wait.ts';
import { fmt, summary } from './stats.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const orders = arg('orders', 20_000);
const feedRate = arg('feed-rate', 150_000);
const feedSeconds = arg('feed-seconds', 5);
const out: Record<string, unknown> = {};

async function benchBroker(): Promise<void> {
  await using broker = await startBroker({ seed: 1, port: 0, marginMode: 'netting' });
  await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
  const req = (i: number) => ({ action: 1, symbol: 'EURUSD', volume: 0.01, type: i % 2, deviation: 1_000_000, price: 1.0834, comment: `b${i}` });
  for (let i = 0; i < 500; i++) await c.orderSend(req(i)); // warm-up
  // One request in flight at a time: the latency an EA sees.
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < orders; i++) {
    const s = performance.now();
    const r = await c.orderSend(req(i));
    lat.push(performance.now() - s);
    if (r.retcode !== 10009) throw new Error(`unexpected retcode ${r.retcode}`);
  }
  const seqSecs = (performance.now() - t0) / 1000;
  const st = summary(lat);
  // Pipelined: a window of 32 outstanding requests on the same connection.
  const window = 32;
  let next = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < orders) await c.orderSend(req(next++));
    }),
  );
  const pipeSecs = (performance.now() - t1) / 1000;
  out.broker = {
    orders,
    sequential_per_s: Math.round(orders / seqSecs),
    p50_ms: Number(fmt(st.p50, 3)),
    p99_ms: Number(fmt(st.p99, 3)),
    max_ms: Number(fmt(st.max, 3)),
    pipelined32_per_s: Math.round(orders / pipeSecs),
  };
}

// The subscriber runs on its own thread (a consumer is its own process in real use);
// it parses every line and checks seq continuity per stream, as FeedClient users do.
const SUBSCRIBER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const seen = new Map();
let received = 0, gaps = 0, epoch, buf = '';
const s = net.connect(workerData.port, workerData.host);
s.setEncoding('utf8');
s.on('data', (d) => {
  buf += d;
  let start = 0, nl;
  while ((nl = buf.indexOf('\\n', start)) >= 0) {
    const m = JSON.parse(buf.slice(start, nl));
    start = nl + 1;
    if (m.hello) { epoch = m.hello.epoch; continue; }
    received++;
    const prev = seen.get(m.stream);
    if (prev !== undefined && m.seq !== prev + 1) gaps++;
    seen.set(m.stream, m.seq);
  }
  buf = buf.slice(start);
});
s.on('close', () => parentPort.postMessage({ received, gaps, epoch, last: Object.fromEntries(seen) }));
s.on('error', () => {});
`;

async function benchFeed(): Promise<void> {
  const { Worker } = await import('node:worker_threads');
  await using feed = await startFeed({ seed: 1, port: 0, ticksPerSecond: feedRate, branching: 0, recordLimit: 100_000 });
  const startEpoch = feed.epoch;
  const worker = new Worker(SUBSCRIBER, { eval: true, workerData: { host: feed.host, port: feed.port } });
  const done = new Promise<{ received: number; gaps: number; epoch: number; last: Record<string, number> }>((r) => worker.once('message', r));
  await waitFor(() => (feed.stats().subscribers === 1 ? true : undefined), { what: 'subscriber', timeoutMs: 5000 });
  const startSeqs = feed.stats().lastSeq;
  const startEmitted = feed.stats().emitted;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, feedSeconds * 1000));
  const stats = feed.stats();
  const secs = (performance.now() - t0) / 1000;
  // Stop emitting; the socket is ended after its buffered bytes, and the worker reports at close.
  await feed.stop();
  const res = await done;
  await worker.terminate();
  // Ticks of this epoch the subscriber should have had: everything after the hello.
  let missing = 0;
  for (const [stream, last] of Object.entries(stats.lastSeq)) missing += Math.max(0, last - (res.last[stream] ?? 0));
  const emitted = stats.emitted - startEmitted;
  out.feed = {
    target_rate: feedRate,
    seconds: Number(fmt(secs, 2)),
    emitted_in_window: emitted,
    emitted_per_s: Math.round(emitted / secs),
    received_total: res.received,
    received_per_s: Math.round(res.received / secs),
    gaps: res.gaps,
    missing_at_end: missing,
    same_epoch: res.epoch === startEpoch,
    slow_consumer_drops: stats.slowConsumersDropped,
    seq_at_subscribe: startSeqs,
  };
}

await benchBroker();
await benchFeed();
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
