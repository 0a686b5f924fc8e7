/**
 * npm run bench:stream — tick streaming, UDP→TCP fallback, supervised restarts.
 *
 * A. feed → streamer → consumer over UDP on loopback: sustained rate and feed-to-consumer latency.
 *    The feed (simulator) and the consumer run in child processes, the streamer in this one.
 *    The streamer stands in for the runtime (the same startTickStreamer and
 *    WorkerTickHistory that runtime/main.ts wires): this measures feed → streamer → consumer.
 * B. 100 UDP blackholes through the fault proxy's UDP relay: blackhole → first new tick over TCP,
 *    then every tick accounted for after gap fill.
 * C. SIGKILL → /ready: the supervised real runtime with its warm standby (50 kills), cold (10),
 *    and a child that only loads the runtime's heavy clients (10).
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { systemClock } from '../core/clock.ts';
import { parseConfig } from '../core/config/index.ts';
import { EventBus, type Notifier } from '../core/events.ts';
import { createRandom } from '../core/random.ts';
import { waitFor } from '../core/wait.ts';
import { UdpRelay } from '../faultproxy/udp.ts';
import { NO_IMPAIRMENTS } from '../faultproxy/impairer.ts';
import { WorkerTickHistory } from '../runtime/stream/history-thread.ts';
import { startTickStreamer } from '../runtime/stream/streamer.ts';
import { ensureBuilt } from '../runtime/supervisor/build.ts';
import { startSupervisor, type ChildSpec } from '../runtime/supervisor/supervisor.ts';
import { runtimeChild } from '../runtime/supervisor/runtime-child.ts';
import { startBroker } from '../simulator/broker/server.ts';
import { startConsumer } from '../simulator/consumer/consumer.ts';
import { startFeed } from '../simulator/feed/server.ts';
import { FeedClient } from '../simulator/protocol/feed-client.ts';

const wallUs = () => (performance.timeOrigin + performance.now()) * 1000;
const quietNotifier: Notifier = { notify: async () => undefined };

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
/** Event-loop delay of this process while it streams (ms): how long a ready tick can wait for its turn. */
function loopDelay() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
}
/** STREAM_BENCH_ATTRIB=1: every process logs its GC pauses and the streamer each sample's arrival (diagnostics). */
const ATTRIB = process.env.STREAM_BENCH_ATTRIB === '1';
function gcLog(): () => [number, number][] {
  const out: [number, number][] = [];
  if (!ATTRIB) return () => out;
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) out.push([(performance.timeOrigin + e.startTime) * 1000, e.duration]);
  });
  obs.observe({ entryTypes: ['gc'] });
  return () => {
    obs.disconnect();
    return out;
  };
}
function summary(xs: number[]) {
  return { n: xs.length, p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), max: Math.max(...xs) };
}

// ---------- consumer child (part A) ----------
async function consumerRole(): Promise<void> {
  const samples: [string, number, string][] = [];
  let received = 0;
  const c = startConsumer({
    clock: systemClock,
    keepTicks: false,
    onTick: (t) => {
      received++;
      const k = t.tick;
      if (t.via !== 'history' && k.stream === 'EURUSD' && k.seq! % 10 === 0) samples.push([`${k.stream}|${k.epoch}|${k.seq}`, wallUs(), t.via]);
    },
  });
  const ports = await c.ready;
  const cpuAtReady = process.cpuUsage();
  const eld = loopDelay();
  const gcs = gcLog();
  process.send!({ ports });
  process.on('message', async (m: { cmd: string; lastSeq: number; epoch: number }) => {
    if (m.cmd !== 'finish') return;
    const t0 = performance.now();
    await waitFor(() => (c.tracker.highest(m.epoch) === m.lastSeq && c.missingCount() === 0) || undefined, {
      what: 'consumer caught up',
      timeoutMs: 20_000,
      intervalMs: 10,
    }).catch(() => undefined);
    const cpu = process.cpuUsage(cpuAtReady);
    process.send!({ loopDelayMs: eld(), gcs: gcs(), received, samples, missing: c.missingCount(), stats: c.stats(), catchUpMs: performance.now() - t0, cpuUs: cpu.user + cpu.system }, () => {
      void c.stop().then(() => process.exit(0));
    });
  });
}

// ---------- feed child (part A) ----------
async function feedRole(rate: number): Promise<void> {
  const emitAt: [string, number][] = [];
  // A short in-memory record: the feed's record of every tick is for checkers (this bench counts with the
  // consumer's tracker instead), not part of the stream path. Two million retained tick objects make the
  // feed's GC pauses show up as stream latency; so do 10,000, since then every tick survives a scavenge.
  const feed = await startFeed({ seed: 1, ticksPerSecond: rate, branching: 0, stepMs: 2, symbols: ['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD'], recordLimit: 256 });
  // Emission time of a sample of ticks (every 10th EURUSD), taken when the batch leaves the generator.
  feed.onTicks((batch) => {
    const t = wallUs();
    for (const k of batch) if (k.stream === 'EURUSD' && k.seq % 10 === 0) emitAt.push([`${k.stream}|${k.epoch}|${k.seq}`, t]);
  });
  const cpuAtReady = process.cpuUsage();
  const eld = loopDelay();
  const gcs = gcLog();
  process.send!({ feed: { host: feed.host, port: feed.port } });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd !== 'finish') return;
    const cpu = process.cpuUsage(cpuAtReady);
    void feed.stop().then(() => process.send!({ loopDelayMs: eld(), gcs: gcs(), emitAt, cpuUs: cpu.user + cpu.system, emitted: feed.stats().emitted }, () => process.exit(0)));
  });
}

// ---------- floor (part A0): the same three processes doing nothing but forwarding ----------
/** Sends a datagram carrying its send time (wall µs) every `everyMs`, `burst` at a time, like the feed's batches. */
async function pingerRole(port: number, everyMs: number, burst: number, seconds: number): Promise<void> {
  const s = createSocket('udp4');
  const buf = Buffer.alloc(64);
  const end = performance.now() + seconds * 1000;
  const tick = () => {
    if (performance.now() >= end) {
      s.close();
      process.send!({ done: true }, () => process.exit(0));
      return;
    }
    for (let i = 0; i < burst; i++) {
      buf.writeDoubleLE(wallUs(), 0);
      s.send(buf, port, '127.0.0.1');
    }
    systemClock.setTimer(everyMs, tick);
  };
  tick();
}
/** Receives the forwarded datagrams and reports one-way latency (ms) of each. */
async function pongerRole(): Promise<void> {
  const s = createSocket('udp4');
  const lat: number[] = [];
  s.on('message', (b) => lat.push((wallUs() - b.readDoubleLE(0)) / 1000));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  process.send!({ port: s.address().port });
  process.on('message', () => process.send!({ lat }, () => process.exit(0)));
}
/**
 * The floor under part A on this machine: feed-like child → this process → consumer-like child, both
 * hops UDP, no work at all besides forwarding. Its tail is scheduler wake-up latency, which no
 * change to the stream's code can remove.
 */
async function partFloor(seconds: number) {
  const rx = child('ponger');
  const relay = createSocket('udp4');
  try {
    const { port } = await waitFor(() => rx.msgs.find((m) => m.port), { what: 'ponger', timeoutMs: 20_000 });
    relay.on('message', (b) => relay.send(b, port, '127.0.0.1'));
    await new Promise<void>((r) => relay.bind(0, '127.0.0.1', () => r()));
    const tx = child('pinger', [String(relay.address().port), '2', '8', String(seconds)]);
    await waitFor(() => tx.msgs.find((m) => m.done), { what: 'pinger', timeoutMs: (seconds + 20) * 1000 });
    await systemClock.sleep(100);
    rx.p.send({ cmd: 'finish' });
    const { lat } = await waitFor(() => rx.msgs.find((m) => m.lat), { what: 'ponger report', timeoutMs: 20_000 });
    return { what: 'child -UDP-> this process -UDP-> child, 8 datagrams every 2 ms, forwarding only', latencyMs: summary(lat as number[]) };
  } finally {
    relay.close();
    rx.p.kill('SIGKILL');
  }
}

function child(role: string, extra: string[] = []) {
  // STREAM_BENCH_PROF=DIR writes a .cpuprofile of each child there (NODE_OPTIONS cannot carry --cpu-prof).
  const prof = process.env.STREAM_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.STREAM_BENCH_PROF}`] : [];
  // STREAM_BENCH_CHILD_FLAGS='--trace-gc ...': Node/V8 flags for the children (diagnostics only).
  if (process.env.STREAM_BENCH_CHILD_FLAGS) prof.push(...process.env.STREAM_BENCH_CHILD_FLAGS.split(' ').filter(Boolean));
  const p = spawn(process.execPath, [...prof, '--import', 'tsx', import.meta.filename, '--role', role, ...extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const msgs: any[] = [];
  p.on('message', (m) => msgs.push(m));
  return { p, msgs };
}

function noHistory() {
  let posted = 0;
  const empty = { rows: 0, chunkMs: 0, flushMs: 0, flushedRows: 0, chunks: 0, flushes: 0, maxFlushMs: 0, maxChunkMs: 0, checkpoints: 0, checkpointsFailed: 0 };
  return {
    append: () => void posted++,
    bySeq: async () => [],
    byTime: async () => [],
    prune: async () => 0,
    close: async () => undefined,
    stats: () => ({ posted, lost: 0, writeErrors: 0, failed: false, worker: { ...empty, rows: posted, flushedRows: posted } }),
  };
}

// ---------- A ----------
async function partA(rate: number, seconds: number, warmupMs: number) {
  const cons = child('consumer');
  const fd = child('feed', [String(rate)]);
  try {
    const { ports } = await waitFor(() => cons.msgs.find((m) => m.ports), { what: 'consumer child', timeoutMs: 20_000 });
    const { feed } = await waitFor(() => fd.msgs.find((m) => m.feed), { what: 'feed child', timeoutMs: 20_000 });
    // As runtime/main.ts wires it: the history in a worker thread with a DuckDB file of its own.
    const histDir = mkdtempSync(join(tmpdir(), 'ea-bench-ticks-'));
    // STREAM_BENCH_HISTORY=none: a history that keeps nothing (diagnostic only: is the worker in the tail?).
    const history = process.env.STREAM_BENCH_HISTORY === 'none' ? noHistory() : await WorkerTickHistory.open({ path: join(histDir, 'ticks.duckdb') });
    const streamer = startTickStreamer({
      clock: systemClock,
      random: createRandom(1),
      config: parseConfig({}),
      events: new EventBus(systemClock, { capacity: 1000 }),
      notifier: quietNotifier,
      history,
      target: { host: '127.0.0.1', udpPort: ports.udpPort, tcpPort: ports.tcpPort },
    });
    await waitFor(() => streamer.status().tcp === 'connected' || undefined, { what: 'tcp', timeoutMs: 5000 });
    let first = 0;
    const cpu0 = process.cpuUsage();
    const eld = loopDelay();
    const gcs = gcLog();
    const mid = new Map<string, number>();
    const client = await FeedClient.connect({
      host: feed.host,
      port: feed.port,
      // As the runtime's QuoteCache connects: binary frames when the feed offers them.
      binary: process.env.STREAM_BENCH_FEED_JSON !== '1',
      onTick: (t) => {
        if (ATTRIB && t.stream === 'EURUSD' && t.seq % 10 === 0) mid.set(`${t.stream}|${t.epoch}|${t.seq}`, wallUs());
        streamer.publish(t);
        if (!first) first = performance.now();
      },
    });
    await systemClock.sleep(warmupMs + seconds * 1000);
    const feedEncoding = client.encoding;
    await client.stop();
    const elapsed = (performance.now() - first) / 1000;
    const lastSeq = streamer.status().lastSeq;
    const cpuMain = process.cpuUsage(cpu0);
    const eldMain = eld();
    const gcMain = gcs();
    const sst = streamer.status().stats;
    cons.p.send({ cmd: 'finish', lastSeq, epoch: streamer.epoch });
    fd.p.send({ cmd: 'finish' });
    const rep = await waitFor(() => cons.msgs.find((m) => m.samples), { what: 'consumer report', timeoutMs: 30_000 });
    const { emitAt, cpuUs: feedCpuUs, emitted, loopDelayMs: eldFeed, gcs: gcFeed } = await waitFor(() => fd.msgs.find((m) => m.emitAt), { what: 'feed report', timeoutMs: 30_000 });
    // Join the feed's emission time with the consumer's first arrival (UDP or TCP; history fills excluded).
    const arrival = new Map<string, [number, string]>((rep.samples as [string, number, string][]).map(([k, t, via]) => [k, [t, via]]));
    // Steady state: ticks emitted in the first warmupMs go to their own figure. That second holds the
    // JIT compiling the hot path and DuckDB creating the table's first row group, stalls of 50-100 ms
    // that a long-running stream pays once.
    const lat: number[] = [];
    const latUdp: number[] = [];
    const latAll: number[] = [];
    const t0 = (emitAt as [string, number][]).reduce((m, [, t]) => Math.min(m, t), Infinity);
    for (const [k, t] of emitAt as [string, number][]) {
      const at = arrival.get(k);
      if (at === undefined) continue;
      latAll.push((at[0] - t) / 1000);
      if (t - t0 < warmupMs * 1000) continue;
      lat.push((at[0] - t) / 1000);
      if (at[1] === 'udp') latUdp.push((at[0] - t) / 1000);
    }
    // Attribution of the samples over 2 ms: which hop they lost their time in, and whose GC they overlap.
    let tail: Record<string, unknown> | undefined;
    if (ATTRIB) {
      const over = { n: 0, feedToStreamerOver1ms: 0, streamerToConsumerOver1ms: 0, overlapGc: { feed: 0, streamer: 0, consumer: 0, none: 0 } };
      const overlaps = (g: [number, number][], a: number, b: number) => g.some(([s0, d]) => s0 < b && s0 + d * 1000 > a);
      const h1: number[] = [];
      const h2: number[] = [];
      for (const [k, t] of emitAt as [string, number][]) {
        const at = arrival.get(k);
        const m = mid.get(k);
        if (at === undefined || m === undefined || t - t0 < warmupMs * 1000 || at[0] - t <= 2000) continue;
        over.n++;
        h1.push((m - t) / 1000);
        h2.push((at[0] - m) / 1000);
        if (m - t > 1000) over.feedToStreamerOver1ms++;
        if (at[0] - m > 1000) over.streamerToConsumerOver1ms++;
        const f = overlaps(gcFeed, t, at[0]);
        const sm = overlaps(gcMain, t, at[0]);
        const c = overlaps(rep.gcs, t, at[0]);
        if (f) over.overlapGc.feed++;
        if (sm) over.overlapGc.streamer++;
        if (c) over.overlapGc.consumer++;
        if (!f && !sm && !c) over.overlapGc.none++;
      }
      const gcSum = (g: [number, number][]) => ({ n: g.length, p50Ms: pct(g.map((x) => x[1]), 50), maxMs: Math.max(0, ...g.map((x) => x[1])) });
      tail = { samplesOver2ms: over, hopMsOfThose: { feedToStreamer: summary(h1), streamerToConsumer: summary(h2) }, gc: { feed: gcSum(gcFeed), streamer: gcSum(gcMain), consumer: gcSum(rep.gcs) } };
      if (process.env.STREAM_BENCH_ATTRIB_FILE) {
        const rel = (x: number) => (x - t0) / 1000;
        const rows = (emitAt as [string, number][]).map(([k, t]) => [rel(t), ((mid.get(k) ?? NaN) - t) / 1000, ((arrival.get(k)?.[0] ?? NaN) - (mid.get(k) ?? NaN)) / 1000]);
        const g = (x: [number, number][]) => x.map(([a, d]) => [rel(a), d]);
        writeFileSync(process.env.STREAM_BENCH_ATTRIB_FILE, JSON.stringify({ rows, gc: { feed: g(gcFeed), streamer: g(gcMain), consumer: g(rep.gcs) } }));
      }
    }
    await streamer.stop();
    await history.close();
    rmSync(histDir, { recursive: true, force: true });
    const hs = history.stats();
    const w = hs.worker!;
    return {
      path: 'feed (child process) -TCP-> streamer (this process, standing in for the runtime) -UDP-> consumer (child process)',
      // How the feed was read: binary frames (as the runtime's QuoteCache asks), or JSON lines with STREAM_BENCH_FEED_JSON=1.
      feedEncoding,
      offeredRate: rate,
      published: lastSeq,
      seconds: elapsed,
      throughput: lastSeq / elapsed,
      sentOverUdp: sst.sentUdp,
      sentOverTcp: sst.sentTcp,
      datagrams: sst.datagrams,
      ticksPerDatagram: sst.sentUdp / Math.max(1, sst.datagrams),
      switches: sst.switches,
      receivedTotal: rep.received,
      viaHistory: rep.stats.historyTicks,
      missingAfterGapFill: rep.missing,
      catchUpMs: rep.catchUpMs,
      warmupMs,
      latencyMs: summary(lat),
      latencyMsOfTicksThatCameOverUdp: summary(latUdp),
      latencyMsIncludingWarmup: summary(latAll),
      // CPU per tick in each process (user+sys), a figure that does not depend on what else runs on the machine.
      cpuUsPerTick: {
        feed: feedCpuUs / emitted,
        streamer: (cpuMain.user + cpuMain.system) / lastSeq,
        consumer: rep.cpuUs / rep.received,
      },
      eventLoopDelayMs: { feed: eldFeed, streamer: eldMain, consumer: rep.loopDelayMs },
      ...(tail ? { tail } : {}),
      // The DuckDB history writes, on the history worker's thread (inside cpuUsPerTick.streamer, which is the
      // whole process): µs per tick, and the longest chunk and flush. None of it runs on the streamer's event loop.
      historyWrites: {
        thread: 'worker',
        posted: hs.posted,
        written: w.flushedRows,
        lost: hs.lost,
        writeErrors: hs.writeErrors,
        usPerTick: ((w.chunkMs + w.flushMs) * 1000) / Math.max(1, w.rows),
        chunkUsPerTick: (w.chunkMs * 1000) / Math.max(1, w.rows),
        flushUsPerTick: (w.flushMs * 1000) / Math.max(1, w.rows),
        chunks: w.chunks,
        flushes: w.flushes,
        maxFlushMs: w.maxFlushMs,
        maxChunkMs: w.maxChunkMs,
        checkpoints: w.checkpoints,
        checkpointsFailed: w.checkpointsFailed,
      },
    };
  } finally {
    // Let the children exit on their own first (a --cpu-prof profile is written at exit).
    await waitFor(() => (cons.p.exitCode !== null && fd.p.exitCode !== null) || undefined, { what: 'children exit', timeoutMs: 5000 }).catch(() => undefined);
    cons.p.kill('SIGKILL');
    fd.p.kill('SIGKILL');
  }
}

// ---------- B ----------
async function partB(blackholes: number) {
  const H = 5;
  const K = 3;
  const events = new EventBus(systemClock, { capacity: 10_000 });
  let marker = Infinity;
  let firstTcp = 0;
  const consumer = startConsumer({
    clock: systemClock,
    keepTicks: false,
    onTick: (t) => {
      if (t.via === 'tcp' && !firstTcp && performance.now() >= marker) firstTcp = performance.now();
    },
  });
  const ports = await consumer.ready;
  const relay = new UdpRelay('ticks', '127.0.0.1:0', `127.0.0.1:${ports.udpPort}`, systemClock, createRandom(3));
  await relay.start();
  const histDir = mkdtempSync(join(tmpdir(), 'ea-bench-ticks-'));
  const history = await WorkerTickHistory.open({ path: join(histDir, 'ticks.duckdb') });
  const streamer = startTickStreamer({
    clock: systemClock,
    random: createRandom(2),
    config: parseConfig({ tick: { heartbeatIntervalMs: H, missedHeartbeats: K } }),
    events,
    notifier: quietNotifier,
    history,
    target: { host: '127.0.0.1', udpPort: Number(relay.listen.split(':').pop()), tcpPort: ports.tcpPort },
  });
  const down = (d: boolean) => {
    relay.setImpairments('upstream', { ...NO_IMPAIRMENTS, down: d });
    relay.setImpairments('downstream', { ...NO_IMPAIRMENTS, down: d });
  };
  let i = 0;
  let publishing = true;
  const pump = () => {
    if (!publishing) return;
    for (let k = 0; k < 2; k++) {
      i++;
      streamer.publish({ symbol: i % 2 ? 'EURUSD' : 'GBPUSD', bid: 1 + i * 1e-6, ask: 1.0002 + i * 1e-6, last: 0, volume: 0, time_msc: 1_700_000_000_000 + i, flags: 6 });
    }
    systemClock.setTimer(1, pump);
  };
  const fallback: number[] = [];
  try {
    await waitFor(() => streamer.status().tcp === 'connected' || undefined, { what: 'tcp', timeoutMs: 5000 });
    pump();
    for (let b = 0; b < blackholes; b++) {
      const udpBefore = consumer.stats().udpTicks;
      await waitFor(() => (streamer.status().mode === 'udp' && consumer.stats().udpTicks > udpBefore + 20) || undefined, {
        what: 'healthy UDP',
        timeoutMs: 5000,
        intervalMs: 2,
      });
      firstTcp = 0;
      marker = performance.now();
      down(true);
      await waitFor(() => firstTcp || undefined, { what: 'first tick over TCP', timeoutMs: 5000, intervalMs: 1 });
      fallback.push(firstTcp - marker);
      marker = Infinity;
      down(false);
    }
    publishing = false;
    const n = streamer.status().lastSeq;
    const t0 = performance.now();
    await waitFor(() => (consumer.tracker.highest(streamer.epoch) === n && consumer.missingCount() === 0) || undefined, {
      what: 'gap fill',
      timeoutMs: 20_000,
    });
    let lost = 0;
    for (let s = 1; s <= n; s++) if (!consumer.tracker.has(streamer.epoch, s)) lost++;
    const sw = events.since().filter((e) => e.type === 'tick.switched');
    return {
      heartbeatIntervalMs: H,
      missedHeartbeats: K,
      blackholes,
      fallbackMs: summary(fallback),
      published: n,
      lostAfterGapFill: lost,
      viaHistory: consumer.stats().historyTicks,
      gapFillMs: performance.now() - t0,
      switches: sw.length,
      anomalies: consumer.record().anomalies.length,
    };
  } finally {
    publishing = false;
    await streamer.stop();
    relay.stop();
    await consumer.stop();
    await history.close();
    rmSync(histDir, { recursive: true, force: true });
  }
}

// ---------- C ----------
async function partC(kills: number, what: 'runtime' | 'runtime-warm' | 'fixture') {
  const root = join(import.meta.dirname, '..');
  // The policy's 1 s spacing between consecutive restarts and its 3-in-30 s limit are not what is measured here:
  // kills are spaced past the interval, and the limit is lifted so all the kills fit in one run.
  const policy = { restartIntervalMs: 50, maxRestartAttempts: 1_000_000, cooldownMs: 30_000 };
  let child: (i: number, port: number) => ChildSpec;
  let config = parseConfig({ process: policy });
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  if (what === 'fixture') {
    const { outfile } = await ensureBuilt({ entry: join(root, 'test/fixtures/ready-child.ts'), outfile: join(root, 'dist/test/fixtures/ready-child.js') });
    child = (_i, port) => ({ command: process.execPath, args: [outfile], env: { FIXTURE_IMPORTS: '1' }, readyUrl: `http://127.0.0.1:${port}/ready` });
  } else {
    const { outfile } = await ensureBuilt({ entry: join(root, 'runtime/main.ts'), outfile: join(root, 'dist/runtime/main.js') });
    const dir = mkdtempSync(join(tmpdir(), 'ea-bench-rt-'));
    const feed = await startFeed({ seed: 1, ticksPerSecond: 20 });
    const broker = await startBroker({ seed: 9, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
    cleanups.push(() => broker.stop(), () => feed.stop(), () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'ea.json');
    writeFileSync(file, JSON.stringify({ seed: 7, process: policy, runtime: { instanceId: 'bench', magic: 4242, dataDir: join(dir, 'data'), broker: { host: broker.host, port: broker.port } } }));
    const warmJs =
      what === 'runtime-warm'
        ? (await ensureBuilt({ entry: join(root, 'runtime/supervisor/warm-entry.ts'), outfile: join(root, 'dist/runtime/supervisor/warm-entry.js') })).outfile
        : undefined;
    const rc = runtimeChild({ configFile: file, js: outfile, warmJs, instances: 1, dir: join(dir, 'inst') });
    config = rc.base;
    child = rc.child;
  }
  const sup = startSupervisor({
    clock: systemClock,
    config,
    events: new EventBus(systemClock, { capacity: 10_000 }),
    notifier: quietNotifier,
    instances: 1,
    child,
    stdio: 'ignore',
    readyTimeoutMs: 30_000,
  });
  const ms: number[] = [];
  const supMs: number[] = [];
  try {
    let s = await sup.waitReady(0);
    for (let k = 0; k < kills; k++) {
      await systemClock.sleep(60); // past the restart interval
      // The next warm standby starts once the instance is ready; kill when it has loaded.
      if (what === 'runtime-warm') await waitFor(() => (sup.status()[0]!.standby === 'warm' ? true : undefined), { what: 'standby', timeoutMs: 20_000, intervalMs: 5 });
      const pid = s.pid!;
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      s = await sup.waitReady(0, { notPid: pid });
      ms.push(performance.now() - t0);
      supMs.push(s.lastRestartToReadyMs ?? NaN);
    }
  } finally {
    await sup.stop();
    for (const c of cleanups) await c();
  }
  return {
    child:
      what === 'fixture'
        ? 'test/fixtures/ready-child.ts compiled, importing ioredis + @duckdb/node-api + @clickhouse/client'
        : `the real runtime (DuckDB, simulated broker; no Redis/ClickHouse), ${what === 'runtime-warm' ? 'warm standby (default of ea-chaos supervise)' : 'cold start of dist/runtime/main.js'}`,
    kills,
    killToReadyMs: summary(ms),
    supervisorExitToReadyMs: summary(supMs),
  };
}

async function main() {
  const quick = process.argv.includes('--quick');
  const t0 = performance.now();
  const os = await import('node:os');
  const out: Record<string, unknown> = { machine: `${os.cpus().length} cores, Node ${process.version}`, loadAverageAtStart: os.loadavg().map((x) => Number(x.toFixed(2))) };
  // `--only a` runs part A alone (for profiling the stream with --cpu-prof).
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  process.stderr.write('A0: the floor: three processes forwarding datagrams...\n');
  out.floor = await partFloor(quick ? 2 : 4);
  process.stderr.write('A: feed -> streamer -> consumer over UDP...\n');
  out.streaming = await partA(60_000, quick ? 2 : 4, 1000);
  if (only === 'a') {
    process.stdout.write(`${JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(fmt(v)) : v), 2)}\n`);
    return;
  }
  process.stderr.write('B: UDP blackholes...\n');
  out.fallback = await partB(quick ? 20 : 100);
  process.stderr.write('C: SIGKILL -> /ready...\n');
  out.restartRuntimeWarm = await partC(quick ? 10 : 50, 'runtime-warm');
  out.restartRuntimeCold = await partC(quick ? 5 : 10, 'runtime');
  out.restartHeavyFixture = await partC(quick ? 5 : 10, 'fixture');
  out.totalSeconds = (performance.now() - t0) / 1000;
  const a = out.streaming as Awaited<ReturnType<typeof partA>>;
  const b = out.fallback as Awaited<ReturnType<typeof partB>>;
  const c = out.restartRuntimeWarm as Awaited<ReturnType<typeof partC>>;
  const cc = out.restartRuntimeCold as Awaited<ReturnType<typeof partC>>;
  out.targets = {
    throughputAtLeast50k: a.throughput >= 50_000 && a.missingAfterGapFill === 0,
    latencyP99AtMost2ms: a.latencyMs.p99 <= 2,
    fallbackP99AtMost25ms: b.fallbackMs.p99 <= 25 && b.lostAfterGapFill === 0,
    restartP99AtMost300ms: c.killToReadyMs.p99 <= 300,
    restartP99AtMost300ms_coldStart: cc.killToReadyMs.p99 <= 300,
  };
  process.stdout.write(`${JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(fmt(v)) : v), 2)}\n`);
}

const ri = process.argv.indexOf('--role');
if (ri >= 0 && process.argv[ri + 1] === 'consumer') await consumerRole();
else if (ri >= 0 && process.argv[ri + 1] === 'feed') await feedRole(Number(process.argv[ri + 2]));
else if (ri >= 0 && process.argv[ri + 1] === 'pinger') await pingerRole(...(process.argv.slice(ri + 2, ri + 6).map(Number) as [number, number, number, number]));
else if (ri >= 0 && process.argv[ri + 1] === 'ponger') await pongerRole();
else {
  await main();
  process.exit(0);
}
