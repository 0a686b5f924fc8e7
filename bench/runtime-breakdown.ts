/**
 * Where intent → send latency goes (issue 5): the disk's fsync, one DuckDB
 * intent commit alone, and the same while the 500 ms trade-state backup runs.
 *
 *   npx tsx bench/runtime-breakdown.ts [--n 2000]
 *
 * Run under the bench lock (flock -x /tmp/ea-bench.lock): it measures tails.
 */
import { spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LocalLab } from '../lab/index.ts';
import { newOrder } from '../runtime/order-state.ts';
import { DuckStore } from '../runtime/store/duckdb.ts';
import { orderRow } from '../runtime/store/rows.ts';
import { benchDuckOptions } from './duck-options.ts';
import { fmt, summary } from './stats.ts';

const i = process.argv.indexOf('--n');
const N = i > 0 ? Number(process.argv[i + 1]) : 2000;
const tmp = mkdtempSync(join(tmpdir(), 'ea-rt-breakdown-'));
const out: Record<string, unknown> = {};

function fig(xs: number[]) {
  const s = summary(xs);
  return { n: s.n, p50: +fmt(s.p50, 3), p90: +fmt(xs.slice().sort((a, b) => a - b)[Math.ceil(0.9 * xs.length) - 1]!, 3), p99: +fmt(s.p99, 3), max: +fmt(s.max, 3) };
}

function fsyncProbe(): void {
  const fd = openSync(join(tmp, 'fsync.bin'), 'w');
  const buf = Buffer.alloc(4096, 7);
  const xs: number[] = [];
  for (let k = 0; k < N; k++) {
    const t = performance.now();
    writeSync(fd, buf, 0, 4096, (k % 256) * 4096);
    fdatasyncSync(fd);
    xs.push(performance.now() - t);
  }
  closeSync(fd);
  out.fsync4k = fig(xs);
}

async function open(name: string): Promise<DuckStore> {
  return DuckStore.open(benchDuckOptions(join(tmp, name, 'b.duckdb')));
}

const row = (k: number, rev: number) =>
  orderRow({ ...newOrder({ clientId: `bd.${k.toString(36)}`, magic: 1, symbol: 'EURUSD', side: 'buy', volume: 0.01 }, Date.now()), state: 'persisted' }, rev);

/**
 * One intent at a time, each awaited: the commit cost with nothing queued in front of it. As the
 * engine writes a new intent (`fresh`: the synchronous appender) unless `upsert` is asked for.
 */
async function serialCommits(store: DuckStore, base: number, n: number, pauseMs = 0, upsert = false): Promise<number[]> {
  const xs: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    await store.putOrder(row(base + k, base + k + 1), upsert ? undefined : { fresh: true });
    xs.push(performance.now() - t);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return xs;
}

async function rawCommits(store: DuckStore, n: number): Promise<{ autocommit: number[]; txn: number[] }> {
  const c = store.connection;
  const auto: number[] = [];
  const txn: number[] = [];
  for (let k = 0; k < n; k++) {
    const r = row(900_000 + k, 900_000 + k);
    let t = performance.now();
    await c.run('INSERT OR REPLACE INTO orders VALUES ($1,$2,$3,$4,$5)', [r.clientId, r.state, r.rev, r.updatedAt, r.data]);
    auto.push(performance.now() - t);
    t = performance.now();
    await c.run('BEGIN TRANSACTION');
    await c.run('INSERT OR REPLACE INTO orders VALUES ($1,$2,$3,$4,$5)', [r.clientId, r.state, r.rev + 1, r.updatedAt, r.data]);
    await c.run('COMMIT');
    txn.push(performance.now() - t);
  }
  return { autocommit: auto, txn };
}

try {
  fsyncProbe();
  console.error(`fsync 4 KB: ${JSON.stringify(out.fsync4k)}`);

  const a = await open('alone');
  await serialCommits(a, 0, 200); // warm-up
  out.duckIntentAlone = fig(await serialCommits(a, 1000, N));
  console.error(`DuckDB single intent commit alone (appender): ${JSON.stringify(out.duckIntentAlone)}`);
  out.duckUpsertAlone = fig(await serialCommits(a, 500_000, N, 0, true));
  console.error(`DuckDB single upsert statement alone: ${JSON.stringify(out.duckUpsertAlone)}`);
  const raw = await rawCommits(a, Math.min(N, 1000));
  out.duckRawAutocommit = fig(raw.autocommit);
  out.duckRawBeginInsertCommit = fig(raw.txn);
  console.error(`raw autocommit INSERT: ${JSON.stringify(out.duckRawAutocommit)}; BEGIN/INSERT/COMMIT: ${JSON.stringify(out.duckRawBeginInsertCommit)}`);
  await a.stop();

  // The same with 100,000 orders stored and the 500 ms backup running, ~500 orders changing per cycle.
  const b = await open('backup');
  const base = Array.from({ length: 100_000 }, (_, k) => row(k, k + 1));
  await Promise.all(base.map((r) => b.putOrder(r)));
  await b.backupOnce();
  b.startBackups();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const xs = await serialCommits(b, 200_000, Math.min(N, 3000), 1);
  h.disable();
  out.duckIntentWithBackup = { ...fig(xs), backupLast: b.lastBackup };
  out.eventLoopDelayWithBackup = { p50: +fmt(h.percentile(50) / 1e6, 2), p99: +fmt(h.percentile(99) / 1e6, 2), max: +fmt(h.max / 1e6, 2) };
  console.error(`DuckDB single intent commit, 100k stored, 500 ms backup running: ${JSON.stringify(out.duckIntentWithBackup)}`);

  // 3. The same with the lab's Redis (AOF on) and ClickHouse running, first idle, then busy with
  // the sync load of ~1,000 orders/s (4 row changes each) driven from ANOTHER process: this
  // isolates CPU/disk contention from work done on the runtime's own event loop.
  const lab = await LocalLab.start({ dir: join(tmp, 'lab') });
  try {
    out.duckIntentLabIdle = fig(await serialCommits(b, 300_000, Math.min(N, 2000), 1));
    console.error(`... with Redis + ClickHouse running, idle: ${JSON.stringify(out.duckIntentLabIdle)}`);
    const root = new URL('../', import.meta.url).pathname;
    const m = lab.info.redis.master;
    const load = `
      import Redis from 'ioredis';
      import { createClient } from '@clickhouse/client';
      const r = new Redis({ host: ${JSON.stringify(m.host)}, port: ${m.port} });
      const ch = createClient({ url: ${JSON.stringify(lab.info.clickhouse.url)} });
      await ch.command({ query: 'CREATE TABLE IF NOT EXISTS default.bd (k String, rev UInt64, data String) ENGINE = ReplacingMergeTree(rev) ORDER BY k' });
      let rev = 0;
      const pad = 'x'.repeat(300);
      setInterval(() => { const m = r.multi(); for (let i = 0; i < 20; i++) m.hset('bd', 'k' + (rev++ % 5000), pad); m.exec().catch(() => {}); }, 5);
      setInterval(() => { const rows = Array.from({ length: 800 }, () => ({ k: 'k' + (rev++ % 5000), rev, data: pad })); ch.insert({ table: 'default.bd', values: rows, format: 'JSONEachRow' }).catch(() => {}); }, 200);
      process.stdout.write('go\\n');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', load], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((r, j) => {
        child.stdout!.once('data', () => r());
        child.once('exit', (c) => j(new Error(`load generator exited ${c}`)));
      });
      await new Promise((r) => setTimeout(r, 1000));
      const h2 = monitorEventLoopDelay({ resolution: 1 });
      h2.enable();
      out.duckIntentLabBusy = fig(await serialCommits(b, 400_000, Math.min(N, 2000), 1));
      h2.disable();
      out.eventLoopDelayLabBusy = { p50: +fmt(h2.percentile(50) / 1e6, 2), p99: +fmt(h2.percentile(99) / 1e6, 2), max: +fmt(h2.max / 1e6, 2) };
      console.error(`... with Redis (AOF) + ClickHouse busy from another process: ${JSON.stringify(out.duckIntentLabBusy)}`);
    } finally {
      child.kill('SIGTERM');
    }
  } finally {
    await b.stop();
    await lab.stop({ clean: true });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
