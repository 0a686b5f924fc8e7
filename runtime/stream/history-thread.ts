import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EaChaosError } from '../../core/errors.ts';
import type { StreamTick } from './codec.ts';
import type { TickHistory } from './history.ts';
import { TickPacker, unpackTicks, type PackedTicks } from './history-packed.ts';
import type { TickSyncEvent, TickSyncOptions } from './tick-sync.ts';

/** The history worker's compiled file, built next to every bundle that includes this module (runtime/supervisor/build.ts). */
export const HISTORY_WORKER_JS = 'tick-history-worker.js';
/** Its source, relative to this module. */
export const HISTORY_WORKER_SOURCE = 'history-worker.ts';

/** Where a runtime keeps its tick history: its own DuckDB file, never the order store's (see docs/architecture.md). */
export function tickHistoryPath(dataDir: string, instanceId: string, file?: string): string {
  return file ? resolve(dataDir, file) : join(resolve(dataDir), `${instanceId}.ticks.duckdb`);
}

export interface WorkerInit {
  path: string;
  table: string;
  /** Sync the history's ticks to ClickHouse from the worker (tick-sync.ts). */
  clickhouse?: TickSyncOptions;
}
type WireError = { message: string; code?: string | undefined };
export type ToWorker =
  | { t: 'rows'; rows: Float64Array; n: number; strs: string[] }
  | { t: 'query'; id: number; by: 'seq' | 'time'; epoch: number; from: number; to: number; limit: number }
  | { t: 'prune'; id: number; beforeMs: number }
  | { t: 'flush'; id: number }
  | { t: 'close'; id: number };
export type FromWorker =
  | { t: 'ready' }
  | { t: 'open_failed'; error: WireError }
  | { t: 'write_error'; error: WireError; rows: number }
  | { t: 'event'; event: TickSyncEvent }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: WireError };

type Request = Extract<ToWorker, { id: number }> extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** The worker's own figures: rows into chunks and flushed into the table, and what that cost its thread (ms). */
export interface HistoryWorkerCosts {
  rows: number;
  flushedRows: number;
  chunks: number;
  chunkMs: number;
  maxChunkMs: number;
  flushes: number;
  flushMs: number;
  maxFlushMs: number;
  checkpoints: number;
  checkpointWallMs: number;
  checkpointsFailed: number;
  writeErrors: number;
  /** Ticks ClickHouse acknowledged (when the worker syncs them). */
  ticksSynced?: number;
}

export interface ThreadTickHistoryStats {
  /** Ticks handed to the worker. */
  posted: number;
  /** Ticks known not to be in history: in a write that failed, or appended after the worker failed. */
  lost: number;
  writeErrors: number;
  /** The worker is gone (crashed or failed to open); appends are counted as lost. */
  failed: boolean;
  /** The worker's figures as of the last flush()/close(). */
  worker: HistoryWorkerCosts | undefined;
}

/** What the history reports through `onError`: a failed background write, or the worker itself failing. */
export interface TickHistoryFailure {
  kind: 'write_failed' | 'worker_failed' | 'close_failed';
  message: string;
  /**
   * Ticks this failure took out of history (counted in stats().lost). For `worker_failed` a lower
   * bound: rows the worker had received but not flushed are gone too, uncounted.
   */
  rowsLost: number;
}

export interface WorkerTickHistoryOptions {
  /** The DuckDB file (created if missing). Only this worker may open it: DuckDB instances are per thread. */
  path: string;
  table?: string;
  onError?: (f: TickHistoryFailure) => void;
  /** Give up on the worker's final flush after this long (default 15 s), then terminate it. */
  closeTimeoutMs?: number;
  /** Also sync the ticks to ClickHouse, from the worker. */
  clickhouse?: TickSyncOptions;
  /** The ClickHouse tick sync's events (retry, parked, drained). */
  onEvent?: (e: TickSyncEvent) => void;
}

/**
 * TickHistory in a worker thread with its own DuckDB file. append() on the publish path only packs
 * the tick into a row of doubles; once per event-loop turn (after the turn's datagrams went out) the
 * rows go to the worker as one transferred buffer. The worker builds data chunks, flushes, checkpoints
 * and answers range queries by message; prune() enforces retention there too.
 */
export class WorkerTickHistory implements TickHistory, AsyncDisposable {
  private readonly packer = new TickPacker();
  private postQueued = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failed = false;
  private closing: Promise<void> | undefined;
  private readonly counts = { posted: 0, lost: 0, writeErrors: 0 };
  private workerCosts: HistoryWorkerCosts | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly opts: WorkerTickHistoryOptions,
  ) {}

  static async open(opts: WorkerTickHistoryOptions): Promise<WorkerTickHistory> {
    const table = opts.table ?? 'stream_ticks';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new EaChaosError('E_CONFIG', `bad history table name ${table}`);
    const worker = spawnHistoryWorker({ path: opts.path, table, ...(opts.clickhouse ? { clickhouse: opts.clickhouse } : {}) } satisfies WorkerInit);
    const h = new WorkerTickHistory(worker, opts);
    await new Promise<void>((res, rej) => {
      const fail = (message: string, cause?: unknown) => {
        void worker.terminate();
        rej(new EaChaosError('E_TICK_HISTORY', `cannot open tick history ${opts.path}: ${message}`, { cause }));
      };
      const onMsg = (m: FromWorker) => {
        if (m.t === 'ready') {
          cleanup();
          res();
        } else if (m.t === 'open_failed') {
          cleanup();
          fail(m.error.message);
        }
      };
      const onErr = (e: Error) => {
        cleanup();
        fail(e.message, e);
      };
      const onExit = (code: number) => {
        cleanup();
        fail(`worker exited (${code}) before opening`);
      };
      const cleanup = () => {
        worker.off('message', onMsg);
        worker.off('error', onErr);
        worker.off('exit', onExit);
      };
      worker.on('message', onMsg);
      worker.on('error', onErr);
      worker.on('exit', onExit);
    });
    h.wire();
    return h;
  }

  private wire(): void {
    this.worker.on('message', (m: FromWorker) => {
      if (m.t === 'reply') {
        const w = this.waiting.get(m.id);
        if (!w) return;
        this.waiting.delete(m.id);
        if (m.ok) w.resolve(m.value);
        else w.reject(new EaChaosError('E_TICK_HISTORY', m.error.message));
      } else if (m.t === 'event') {
        try {
          this.opts.onEvent?.(m.event);
        } catch {
          /* a listener's failure is not the worker's */
        }
      } else if (m.t === 'write_error') {
        this.counts.writeErrors++;
        this.counts.lost += m.rows;
        this.report({ kind: 'write_failed', message: m.error.message, rowsLost: m.rows });
      }
    });
    this.worker.on('error', (e) => this.fail(`history worker crashed: ${e.message}`));
    this.worker.on('messageerror', (e) => this.report({ kind: 'write_failed', message: `history worker message: ${String(e)}`, rowsLost: 0 }));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(`history worker exited (${code})`);
      else this.rejectAll('history worker exited');
    });
  }

  private report(f: TickHistoryFailure): void {
    try {
      this.opts.onError?.(f);
    } catch {
      /* a reporter's failure must not reach the publish path */
    }
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    // Whatever the worker had not flushed is gone with it; how much is unknown beyond what is pending here.
    const pending = this.packer.take()?.n ?? 0;
    this.counts.lost += pending;
    this.rejectAll(message);
    this.report({ kind: 'worker_failed', message, rowsLost: pending });
  }

  private rejectAll(message: string): void {
    for (const w of this.waiting.values()) w.reject(new EaChaosError('E_TICK_HISTORY', message));
    this.waiting.clear();
  }

  append(tick: StreamTick, storedAt: number): void {
    if (this.failed || this.closing) {
      this.counts.lost++;
      return;
    }
    this.packer.add(tick, storedAt);
    if (!this.postQueued) {
      this.postQueued = true;
      setImmediate(this.postRows);
    }
  }

  /** One message per event-loop turn, after the turn's I/O callbacks (and so its sends) ran. */
  private readonly postRows = (): void => {
    this.postQueued = false;
    const p: PackedTicks | undefined = this.packer.take();
    if (!p) return;
    if (this.failed) {
      this.counts.lost += p.n;
      return;
    }
    this.counts.posted += p.n;
    this.worker.postMessage({ t: 'rows', rows: p.rows, n: p.n, strs: p.strs } satisfies ToWorker, [p.rows.buffer as ArrayBuffer]);
  };

  private request<T>(m: Request): Promise<T> {
    if (this.failed) return Promise.reject(new EaChaosError('E_TICK_HISTORY', 'history worker has failed'));
    // Rows appended before this request must be there when it runs: messages keep their order.
    this.postRows();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...m, id } as ToWorker);
    });
  }

  private async query(by: 'seq' | 'time', epoch: number, from: number, to: number, limit: number): Promise<StreamTick[]> {
    const p = await this.request<PackedTicks>({ t: 'query', by, epoch, from, to, limit });
    return unpackTicks(p.rows, p.n, p.strs);
  }

  bySeq(epoch: number, fromSeq: number, toSeq: number, limit: number): Promise<StreamTick[]> {
    return this.query('seq', epoch, fromSeq, toSeq, limit);
  }

  byTime(epoch: number, fromMs: number, toMs: number, limit: number): Promise<StreamTick[]> {
    return this.query('time', epoch, fromMs, toMs, limit);
  }

  prune(beforeMs: number): Promise<number> {
    return this.request<number>({ t: 'prune', beforeMs });
  }

  /** Every tick appended so far is in the table when this resolves. */
  async flush(): Promise<void> {
    this.workerCosts = await this.request<HistoryWorkerCosts>({ t: 'flush' });
  }

  stats(): ThreadTickHistoryStats {
    return { ...this.counts, failed: this.failed, worker: this.workerCosts };
  }

  /** Flush the last rows, close the file and end the worker; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.failed) {
      await this.worker.terminate();
      return;
    }
    const done = this.request<HistoryWorkerCosts>({ t: 'close' });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeoutMs = this.opts.closeTimeoutMs ?? 15_000;
    try {
      // I/O plumbing, not logic: a bound on a thread that may hang, no Clock.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new EaChaosError('E_TICK_HISTORY', `history worker did not close within ${timeoutMs} ms`)), timeoutMs);
      });
      this.workerCosts = await Promise.race([done, timeout]);
    } catch (e) {
      this.report({ kind: 'close_failed', message: (e as Error).message, rowsLost: 0 });
      throw e;
    } finally {
      clearTimeout(timer);
      await this.worker.terminate();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Start the worker in whichever form this module runs in: bundled (supervised runtimes start from
 * esbuild output), the worker's own bundle sits next to the bundle; from TypeScript source (tsx,
 * vitest), a Worker cannot load .ts through execArgv on Node 20, so it registers tsx first.
 */
function spawnHistoryWorker(init: WorkerInit): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const src = new URL(`./${HISTORY_WORKER_SOURCE}`, here).href;
    const code = `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(src)}); })`;
    return new Worker(code, { eval: true, workerData: init });
  }
  const js = new URL(`./${HISTORY_WORKER_JS}`, here);
  if (!existsSync(fileURLToPath(js))) {
    throw new EaChaosError('E_TICK_HISTORY', `${fileURLToPath(js)} is missing: bundles that include the tick history are built with runtime/supervisor/build.ts ensureBuilt()`);
  }
  return new Worker(js, { workerData: init });
}

function tsxApiUrl(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    // Where import.meta.resolve is missing (a test runner's module loader): the ESM build beside the CJS one.
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  }
}
