/**
 * The tick-history worker thread (started by history-thread.ts, never imported by it): owns its
 * own DuckDB file and does every history write and read there, so that building data chunks and
 * flushing the appender (up to several ms each) never block the streamer's event loop.
 *
 * Messages in order: rows are appended before a later query runs, so a query sees every tick the
 * main thread posted before it.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../../core/clock.ts';
import { DuckDbTickHistory } from './history-duckdb.ts';
import { TickClickhouseSync } from './tick-sync.ts';
import type { FromWorker, ToWorker, WorkerInit } from './history-thread.ts';

// History is background work: at the lowest priority it takes the CPU only when the streamer (and on a
// small machine, the feed and the consumer) do not need it. On Linux a nice value is per thread.
try {
  setPriority(19);
} catch {
  /* not permitted here: run at normal priority */
}

const port = parentPort;
if (!port) throw new Error('history-worker.ts runs as a worker thread only');
const init = workerData as WorkerInit;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
const errorOf = (e: unknown) => ({ message: e instanceof Error ? e.message : String(e), code: (e as { code?: string })?.code });

const dict: string[] = [];
// Queued until open() settles: the main thread may post rows before the file is open.
const early: ToWorker[] = [];
let history: DuckDbTickHistory | undefined;
let onMessage = (m: ToWorker) => void early.push(m);
port.on('message', (m: ToWorker) => onMessage(m));

try {
  history = await DuckDbTickHistory.open({
    path: init.path,
    table: init.table,
    // Off the streamer's thread, a chunk per DuckDB vector (2048 rows) costs least per row.
    sliceRows: 2048,
    flushRows: 2048,
    // DuckDB's own checkpoint runs inside the commit that crosses its WAL threshold, on this (niced)
    // thread, which only delays history answers. An explicit async CHECKPOINT would run on libuv's
    // pool at normal priority and compete with the streamer for the CPU (measured: p99 2.1-2.3 ms
    // without, 2.3-3.7 ms with).
    checkpointRows: Infinity,
    threads: 1,
    onWriteError: (e, rows) => post({ t: 'write_error', error: errorOf(e), rows }),
  });
} catch (e) {
  post({ t: 'open_failed', error: errorOf(e) });
  port.close();
}

if (history) {
  const h = history;
  const reply = async (id: number, fn: () => Promise<unknown>) => {
    try {
      const value = await fn();
      if (value && typeof value === 'object' && 'rows' in value && (value as { rows: unknown }).rows instanceof Float64Array) {
        const rows = (value as { rows: Float64Array }).rows;
        post({ t: 'reply', id, ok: true, value }, [rows.buffer as ArrayBuffer]);
      } else post({ t: 'reply', id, ok: true, value });
    } catch (e) {
      post({ t: 'reply', id, ok: false, error: errorOf(e) });
    }
  };
  const sync = init.clickhouse ? new TickClickhouseSync(init.clickhouse, h, systemClock, (event) => post({ t: 'event', event })).start() : undefined;
  const stats = () => ({ ...h.costs, writeErrors: h.writeErrors, ticksSynced: sync?.synced ?? 0 });
  onMessage = (m: ToWorker) => {
    switch (m.t) {
      case 'rows':
        for (const s of m.strs) dict.push(s);
        h.appendPacked(m.rows, m.n, dict);
        return;
      case 'query':
        void reply(m.id, () => h.queryPacked(m.by, m.epoch, m.from, m.to, m.limit));
        return;
      case 'prune':
        void reply(m.id, () => h.prune(m.beforeMs));
        return;
      case 'flush':
        void reply(m.id, async () => {
          await h.flush();
          return stats();
        });
        return;
      case 'close':
        void reply(m.id, async () => {
          await sync?.stop();
          await h.close();
          return stats();
        }).then(() => port.close());
        return;
    }
  };
  for (const m of early.splice(0)) onMessage(m);
  post({ t: 'ready' });
}
