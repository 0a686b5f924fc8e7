/**
 * Issue 5 targets for the reference runtime:
 *  - healthy: ≥ 1,000 orders/s end to end (intent → broker → DuckDB, Redis and
 *    ClickHouse all caught up), p99 ≤ 5 ms from intent to broker send;
 *  - recovery from each fault's end: trade execution p99 after the broker is
 *    back, ClickHouse backlog drained after it is back, DuckDB restored and
 *    ready after a kill -9;
 *  - DuckDB backup: the cost of one 500 ms cycle with 100,000 orders stored.
 *
 *   npm run bench:runtime [-- --orders 5000 --concurrency 256 --backup-rows 100000 --light 1000 --data-dir DIR]
 *
 * `--data-dir` puts the runtime's DuckDB files elsewhere (default: a temporary folder on the
 * system disk). Pointing it at a tmpfs such as /dev/shm shows what the runtime costs without the
 * disk's fsync: a diagnostic, not a durable setup.
 *
 * Policies run at timeScale 1 (the seed's real 1-2-4-8-16 s backoff and 5 s
 * ClickHouse retries): the recovery figures show what the health probes buy.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { LocalLab } from '../lab/index.ts';
import { startRuntime } from '../runtime/main.ts';
import { newOrder } from '../runtime/order-state.ts';
import { orderRow } from '../runtime/store/rows.ts';
import { DuckStore } from '../runtime/store/duckdb.ts';
import { benchDuckOptions } from './duck-options.ts';
import { fmt, summary } from './stats.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const ORDERS = arg('orders', 5000);
const CONCURRENCY = arg('concurrency', 256);
const BACKUP_ROWS = arg('backup-rows', 100_000);
const LIGHT = arg('light', 1000);
const dataDirArg = process.argv.indexOf('--data-dir');
const ROOT = new URL('../', import.meta.url).pathname;
const out: Record<string, unknown> = {};
const tmp = mkdtempSync(join(tmpdir(), 'ea-rt-bench-'));
const dataDir = dataDirArg > 0 ? mkdtempSync(join(process.argv[dataDirArg + 1]!, 'ea-rt-bench-')) : join(tmp, 'rt');

/**
 * The disk under the runtime's DuckDB file, right before the latency run: a 4 KB append and
 * fsync, as a commit's WAL write is. A durable intent cannot be faster than this.
 */
async function fsyncProbe(dir: string, n: number): Promise<number[]> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'fsync-probe.bin');
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(4096, 7);
  const xs: number[] = [];
  try {
    for (let k = 0; k < n; k++) {
      const t = performance.now();
      writeSync(fd, buf, 0, buf.length, k * buf.length);
      fsyncSync(fd);
      xs.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return xs;
}

async function benchBackup(): Promise<void> {
  const path = join(tmp, 'backup', 'b.duckdb');
  const store = await DuckStore.open(benchDuckOptions(path, 100));
  const now = Date.now();
  const rows = Array.from({ length: BACKUP_ROWS }, (_, i) =>
    orderRow({ ...newOrder({ clientId: `bench.${i.toString(36)}`, magic: 1, symbol: 'EURUSD', side: 'buy', volume: 0.01 }, now), state: 'filled' }, i + 1),
  );
  await Promise.all(rows.map((r) => store.putOrder(r)));
  const full = await store.backupOnce();
  // A steady 500 ms cycle at 1,000 orders/s changes ~500 orders (x4 transitions, same rows).
  const changed = rows.slice(0, 500).map((r, i) => ({ ...r, rev: BACKUP_ROWS + i + 1 }));
  await Promise.all(changed.map((r) => store.putOrder(r)));
  const cycles: number[] = [];
  for (let k = 0; k < 10; k++) {
    const more = rows.slice(500 * (k + 1), 500 * (k + 2)).map((r, i) => ({ ...r, rev: BACKUP_ROWS * 2 + k * 500 + i }));
    await Promise.all(more.map((r) => store.putOrder(r)));
    cycles.push((await store.backupOnce()).ms);
  }
  const idle = await store.backupOnce();
  await store.stop();
  const s = summary(cycles);
  out.duckdbBackup = { storedOrders: BACKUP_ROWS, firstFullCopyMs: +fmt(full.ms, 1), cycle500ChangedP50Ms: +fmt(s.p50, 1), cycle500ChangedMaxMs: +fmt(s.max, 1), idleCycleMs: +fmt(idle.ms, 1) };
  console.error(`duckdb backup: full copy of ${BACKUP_ROWS} orders ${fmt(full.ms, 1)} ms; 500-changed cycle p50 ${fmt(s.p50, 1)} ms max ${fmt(s.max, 1)} ms; idle ${fmt(idle.ms, 1)} ms`);
}

/** kill -9 a process that holds a DuckDB file with `n` orders written since the last checkpoint, then time the reopen. */
async function benchDuckRestart(n: number): Promise<void> {
  const path = join(tmp, `restart-${n}`, 'r.duckdb');
  const script = `
    import { DuckStore } from ${JSON.stringify(join(ROOT, 'runtime/store/duckdb.ts'))};
    import { EventBus } from ${JSON.stringify(join(ROOT, 'core/events.ts'))};
    import { systemClock } from ${JSON.stringify(join(ROOT, 'core/clock.ts'))};
    import { silentLogger } from ${JSON.stringify(join(ROOT, 'core/log.ts'))};
    const s = await DuckStore.open({ path: ${JSON.stringify(path)}, clock: systemClock, events: new EventBus(systemClock), log: silentLogger, walLimitBytes: 268435456, backupIntervalMs: 500, lockRetryMs: 20, lockMaxAttempts: 10 });
    await s.backupOnce();
    const ps = [];
    for (let i = 0; i < ${n}; i++) ps.push(s.putOrder({ clientId: 'k.' + i, state: 'filled', rev: i + 1, updatedAt: Date.now(), data: JSON.stringify({ clientId: 'k.' + i, state: 'filled', pad: 'x'.repeat(200) }) }));
    await Promise.all(ps);
    process.kill(process.pid, 'SIGKILL');
  `;
  await new Promise<void>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: 'ignore' });
    c.on('exit', () => resolve());
  });
  const t0 = performance.now();
  const store = await DuckStore.open(benchDuckOptions(path, 100));
  const orders = (await store.loadOrders()).length;
  const ms = performance.now() - t0;
  await store.stop();
  (out.duckdbRestart ??= [] as unknown[]) && (out.duckdbRestart as unknown[]).push({ ordersInWal: n, reopenAndLoadMs: +fmt(ms, 1), ordersRecovered: orders });
  console.error(`duckdb kill -9 → reopened and loaded ${orders} orders (${n} in the WAL) in ${fmt(ms, 1)} ms`);
}

/** CPU time (user + system, ms) a process has used so far, from /proc; NaN where that cannot be read. */
function procCpuMs(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** The simulated broker and feed in their own process, as in a real deployment (and off the runtime's event loop). */
async function startSimulatorProcess(): Promise<{ broker: { host: string; port: number; admin: string }; feed: { host: string; port: number }; stop: () => Promise<void> }> {
  const script = `
    import { startBroker, startFeed } from ${JSON.stringify(join(ROOT, 'simulator/index.ts'))};
    const feed = await startFeed({ seed: 1, port: 0, ticksPerSecond: 50 });
    const broker = await startBroker({ seed: 1, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e12 });
    process.stdout.write(JSON.stringify({ broker: broker.endpoint, feed: feed.endpoint }) + '\\n');
    process.on('SIGTERM', async () => { await broker.stop(); await feed.stop(); process.exit(0); });
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.on('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  const eps = JSON.parse(line) as { broker: { host: string; port: number; admin: string }; feed: { host: string; port: number } };
  return {
    ...eps,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

async function benchRuntime(): Promise<void> {
  const lab = await LocalLab.start({ dir: join(tmp, 'lab') });
  const sim = await startSimulatorProcess();
  const broker = sim.broker;
  const feed = sim.feed;
  const rt = await startRuntime({
    config: {
      seed: 1,
      timeScale: 1,
      clickhouse: { database: 'ea_rt_bench' },
      redis: { masterName: lab.info.sentinelMasterName },
      runtime: {
        instanceId: 'bench',
        magic: 777,
        dataDir,
        broker: { host: broker.host, port: broker.port },
        feed,
        redis: { sentinels: lab.info.sentinels },
        clickhouse: { url: lab.info.clickhouse.url },
      },
    },
    logger: silentLogger,
  });
  try {
    await waitFor(() => rt.isReady() || undefined, { what: 'runtime ready', timeoutMs: 20_000 });
    const submitMany = async (n: number, c: number) => {
      let next = 0;
      const worker = async () => {
        while (next < n) {
          const i = next++;
          await rt.engine.submit({ symbol: 'EURUSD', side: i % 2 ? 'sell' : 'buy', volume: 0.01, deviation: 1_000_000 });
        }
      };
      await Promise.all(Array.from({ length: c }, worker));
    };
    const storesCaughtUp = () => rt.redis!.backlog === 0 && rt.clickhouse!.backlog().pending === 0 && rt.clickhouse!.backlog().parkedBatches === 0;
    await submitMany(500, CONCURRENCY); // warm-up
    await waitFor(() => storesCaughtUp() || undefined, { what: 'warm-up synced', timeoutMs: 20_000 });
    // 1. Closed loop: as fast as CONCURRENCY outstanding orders go.
    rt.engine.sendLatency.length = 0;
    const t0 = performance.now();
    await submitMany(ORDERS, CONCURRENCY);
    const filledAt = performance.now();
    await waitFor(() => storesCaughtUp() || undefined, { what: 'stores caught up', timeoutMs: 30_000, intervalMs: 1 });
    await rt.clickhouse!.flushed();
    const doneAt = performance.now();
    const closed = summary(rt.engine.sendLatency);
    // 2. Open loop at the target rate: 1,000 orders/s for 3 s, 10 every 10 ms.
    rt.engine.sendLatency.length = 0;
    const paced: Promise<unknown>[] = [];
    const p0 = performance.now();
    for (let tick = 0; tick < 300; tick++) {
      for (let k = 0; k < 10; k++) paced.push(rt.engine.submit({ symbol: 'EURUSD', side: k % 2 ? 'sell' : 'buy', volume: 0.01, deviation: 1_000_000 }));
      const due = p0 + (tick + 1) * 10;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    await Promise.all(paced);
    await waitFor(() => storesCaughtUp() || undefined, { what: 'stores caught up (paced)', timeoutMs: 30_000, intervalMs: 1 });
    await rt.clickhouse!.flushed();
    const pacedDone = performance.now();
    const open = summary(rt.engine.sendLatency);
    // 3. Open loop at a light 100 orders/s (LIGHT orders): the latency floor without queueing.
    const fsync = summary(await fsyncProbe(dataDir, 500));
    rt.engine.sendLatency.length = 0;
    rt.engine.durableLatency.length = 0;
    rt.duck.intentFlushMs.length = 0;
    // CPU of ClickHouse and of this process (the runtime) over the run: what the stores cost beside it.
    const chCpu0 = procCpuMs(lab.info.pids['clickhouse']);
    const me0 = process.cpuUsage();
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const light: Promise<unknown>[] = [];
    const l0 = performance.now();
    for (let tick = 0; tick < LIGHT; tick++) {
      light.push(rt.engine.submit({ symbol: 'EURUSD', side: tick % 2 ? 'sell' : 'buy', volume: 0.01, deviation: 1_000_000 }));
      const due = l0 + (tick + 1) * 10;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    await Promise.all(light);
    loop.disable();
    const lightWallMs = performance.now() - l0;
    const chCpuMs = procCpuMs(lab.info.pids['clickhouse']) - chCpu0;
    const me = process.cpuUsage(me0);
    const lightLat = summary(rt.engine.sendLatency);
    const lightDurable = summary(rt.engine.durableLatency);
    const lightFlush = summary(rt.duck.intentFlushMs);
    const cs = rt.duck.commitStats;
    out.duckdbCommits = { commits: cs.commits, writesPerCommit: +fmt(cs.writes / cs.commits, 1), meanMs: +fmt(cs.totalMs / cs.commits, 2), maxMs: +fmt(cs.maxMs, 1), lazyUpserts: cs.lazyUpserts };
    out.healthy = {
      paced100PerSec: {
        orders: LIGHT,
        intentToSendMs: { p50: +fmt(lightLat.p50, 2), p99: +fmt(lightLat.p99, 2), max: +fmt(lightLat.max, 2) },
        // The breakdown: how much of it is the DuckDB commit, and how late the event loop ran.
        intentToDurableMs: { p50: +fmt(lightDurable.p50, 2), p99: +fmt(lightDurable.p99, 2), max: +fmt(lightDurable.max, 2) },
        intentFlushMs: { p50: +fmt(lightFlush.p50, 2), p99: +fmt(lightFlush.p99, 2), max: +fmt(lightFlush.max, 2) },
        eventLoopDelayMs: { p50: +fmt(loop.percentile(50) / 1e6, 2), p99: +fmt(loop.percentile(99) / 1e6, 2), max: +fmt(loop.max / 1e6, 2) },
        diskFsync4kMs: { dir: dataDir, p50: +fmt(fsync.p50, 2), p99: +fmt(fsync.p99, 2), max: +fmt(fsync.max, 2) },
        // Cores busy on average: 1.0 is one core of the two.
        cpuCores: { clickhouse: +fmt(chCpuMs / lightWallMs, 3), runtimeProcess: +fmt((me.user + me.system) / 1000 / lightWallMs, 3) },
      },
      closedLoop: {
        orders: ORDERS,
        concurrency: CONCURRENCY,
        ordersPerSecEndToEnd: Math.round(ORDERS / ((doneAt - t0) / 1000)),
        ordersPerSecFilled: Math.round(ORDERS / ((filledAt - t0) / 1000)),
        intentToSendMs: { p50: +fmt(closed.p50, 2), p99: +fmt(closed.p99, 2) },
      },
      paced1000PerSec: {
        orders: 3000,
        ordersPerSecEndToEnd: Math.round(3000 / ((pacedDone - p0) / 1000)),
        intentToSendMs: { p50: +fmt(open.p50, 2), p95: +fmt(open.p95, 2), p99: +fmt(open.p99, 2), max: +fmt(open.max, 2) },
      },
      states: rt.engine.counts(),
    };
    console.error(
      `healthy closed loop: ${fmt(ORDERS / ((doneAt - t0) / 1000))} orders/s end to end (all stores), intent→send p99 ${fmt(closed.p99, 2)} ms at ${CONCURRENCY} outstanding`,
    );
    console.error(
      `healthy paced 100/s: intent→send p50 ${fmt(lightLat.p50, 2)} ms p99 ${fmt(lightLat.p99, 2)} ms; intent→durable p50 ${fmt(lightDurable.p50, 2)} p99 ${fmt(lightDurable.p99, 2)} ms; appender flush p50 ${fmt(lightFlush.p50, 2)} p99 ${fmt(lightFlush.p99, 2)} ms; disk fsync 4 KB just before p50 ${fmt(fsync.p50, 2)} p99 ${fmt(fsync.p99, 2)} ms; event-loop delay p99 ${fmt(loop.percentile(99) / 1e6, 2)} ms max ${fmt(loop.max / 1e6, 2)} ms`,
    );
    console.error(`healthy paced 100/s: cores busy, clickhouse-server ${fmt(chCpuMs / lightWallMs, 3)}, the runtime's process ${fmt((me.user + me.system) / 1000 / lightWallMs, 3)}`);
    console.error(`duckdb group commits over the healthy runs: ${JSON.stringify(out.duckdbCommits)}`);
    console.error(`healthy paced 1000/s: ${fmt(3000 / ((pacedDone - p0) / 1000))} orders/s end to end; intent→send p50 ${fmt(open.p50, 2)} ms p99 ${fmt(open.p99, 2)} ms`);

    // Broker outage: orders submitted while it is down wait in the 1-2-4-8-16 s backoff; time from "broker back" to each fill.
    {
      const restarting = fetch(`${broker.admin}/restart?downMs=1500`, { method: 'POST' });
      const reachable = () =>
        new Promise<boolean>((r) => {
          const sock = connect({ host: broker.host, port: broker.port });
          sock.once('connect', () => {
            sock.destroy();
            r(true);
          });
          sock.once('error', () => r(false));
        });
      await waitFor(async () => ((await reachable()) ? undefined : true), { what: 'broker down', timeoutMs: 2000, intervalMs: 1 });
      const pending: Promise<unknown>[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 100; i++) {
        pending.push(rt.engine.submit({ symbol: 'EURUSD', side: i % 2 ? 'sell' : 'buy', volume: 0.01, deviation: 1_000_000 }).then((o) => ids.push(o.clientId)));
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(pending);
      // "Broker back" = the first moment a TCP connect succeeds again.
      await waitFor(async () => ((await reachable()) ? true : undefined), { what: 'broker back', timeoutMs: 5000, intervalMs: 1 });
      const back = performance.now();
      await restarting;
      const filledAt = new Map<string, number>();
      const unsub = rt.events.subscribe((e) => {
        if (e.type === 'order.state' && (e.data?.to === 'filled' || e.data?.to === 'reconciled')) filledAt.set(String(e.data.clientId), performance.now());
      });
      await waitFor(() => ids.every((id) => ['filled', 'reconciled'].includes(rt.engine.orders.get(id)!.state)) || undefined, { what: 'orders after broker back', timeoutMs: 30_000, intervalMs: 1 });
      unsub();
      const rec = summary(ids.map((id) => (filledAt.get(id) ?? back) - back));
      out.brokerRecovery = { orders: ids.length, downMs: 1500, afterBackMs: { p50: +fmt(rec.p50, 1), p99: +fmt(rec.p99, 1), max: +fmt(rec.max, 1) } };
      console.error(`broker back → orders confirmed: p50 ${fmt(rec.p50, 1)} ms p99 ${fmt(rec.p99, 1)} ms (${ids.length} orders waiting in backoff)`);
    }

    // ClickHouse outage: stream for 2 s with it down, then time from "server ready" to "backlog drained".
    {
      await lab.kill('clickhouse');
      const until = performance.now() + 2000;
      while (performance.now() < until) {
        await rt.engine.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 1_000_000 });
        await new Promise((r) => setTimeout(r, 5));
      }
      const backlog = rt.clickhouse!.backlog();
      await lab.start('clickhouse');
      const back = performance.now();
      await waitFor(() => (rt.clickhouse!.backlog().pending === 0 && rt.clickhouse!.backlog().parkedBatches === 0 && rt.clickhouse!.status === 'up') || undefined, {
        what: 'clickhouse backlog drained',
        timeoutMs: 30_000,
        intervalMs: 1,
      });
      await rt.clickhouse!.flushed();
      const ms = performance.now() - back;
      out.clickhouseRecovery = { outageMs: 2000, backlogAtRestart: backlog, drainedAfterReadyMs: +fmt(ms, 1) };
      console.error(`clickhouse ready → backlog drained in ${fmt(ms, 1)} ms (backlog ${JSON.stringify(backlog)})`);
    }
  } finally {
    await rt.stop();
    await sim.stop();
    await lab.stop({ clean: true });
  }
}

try {
  await benchBackup();
  await benchDuckRestart(1000);
  await benchDuckRestart(20_000);
  await benchRuntime();
  out.machine = { cores: 2, node: process.version };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
  if (dataDirArg > 0) rmSync(dataDir, { recursive: true, force: true });
}
