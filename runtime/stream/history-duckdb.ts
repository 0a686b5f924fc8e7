import { performance } from 'node:perf_hooks';
import { DOUBLE, DuckDBConnection, DuckDBDataChunk, DuckDBInstance, INTEGER, VARCHAR, type DuckDBAppender, type DuckDBType } from '@duckdb/node-api';
import { EaChaosError } from '../../core/errors.ts';
import type { StreamTick, Tick } from './codec.ts';
import type { TickHistory } from './history.ts';
import { ROW, unpackTicks, type PackedTicks } from './history-packed.ts';

export interface DuckDbTickHistoryOptions {
  /** A connection owned by the caller (the runtime owns its DuckDB file); not closed by close(). */
  connection?: DuckDBConnection;
  /** Used when no connection is given: a file path, or ':memory:'. */
  path?: string;
  table?: string;
  /** Rows per data chunk (default 512: one event-loop turn's work, < 1 ms; a worker thread can take 2048). */
  sliceRows?: number;
  /** Rows per appender flush into the table (default 2048). */
  flushRows?: number;
  /**
   * Rows between explicit asynchronous checkpoints (default 16,384); Infinity leaves checkpoints to
   * DuckDB, which runs them inside the commit that crosses its WAL threshold (on this thread).
   */
  checkpointRows?: number;
  /** DuckDB worker threads, when the history opens its own instance. */
  threads?: number;
  /** Called for every background write that failed (its rows are lost to history). */
  onWriteError?: (error: unknown, rows: number) => void;
}

/** A history row as the ClickHouse tick sync reads it (integers as doubles, exact to 2^53). */
export type UnsyncedTick = Pick<Tick, 'symbol' | 'bid' | 'ask' | 'last' | 'volume' | 'time_msc' | 'flags'> & { epoch: number; seq: number; stored_at: number };

/** The table's columns in the packed row order (history-packed.ts), integers as DOUBLE so that no BigInt is made. */
const SELECT_PACKED =
  'epoch::DOUBLE, seq::DOUBLE, symbol, bid, ask, last, volume, time_msc::DOUBLE, flags::DOUBLE, feed_seq::DOUBLE, feed_epoch::DOUBLE, stored_at::DOUBLE, feed_stream, volume_real';

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;
/** Rows per data chunk by default (one event-loop turn's work, ~0.5 ms). */
const SLICE_ROWS = 512;
/** Rows per appender flush into the table by default (the flush has a fixed cost of ~0.5 ms). */
const FLUSH_ROWS = 2048;
/** Rows between explicit (asynchronous) checkpoints, ~4 MB of WAL: well below DuckDB's 16 MB automatic one. */
const CHECKPOINT_ROWS = 16_384;
/** Rows wait at most this long for a full chunk. */
const IDLE_DRAIN_MS = 1000;
/**
 * The chunk's column types. The integer columns travel as DOUBLE (exact to 2^53) and DuckDB casts
 * them to BIGINT on append: a BigInt per value cost more than the cast.
 */
const CHUNK_TYPES: DuckDBType[] = [DOUBLE, DOUBLE, VARCHAR, DOUBLE, DOUBLE, DOUBLE, DOUBLE, DOUBLE, INTEGER, DOUBLE, DOUBLE, DOUBLE, VARCHAR, DOUBLE];

type Column = (number | string | null)[];
const newColumns = (): Column[] => CHUNK_TYPES.map(() => []);

/**
 * TickHistory in DuckDB, kept off the publish path: append() only writes the row into
 * column arrays. Once 2048 rows are pending (or a second has passed), after the event-loop
 * turn (setImmediate, so after the turn's datagrams are sent), they go to the Appender as one
 * data chunk and the Appender is flushed into the table. Per-value Appender calls cost
 * ~5 µs a row; this costs ~1.5 µs. Appender work
 * and queries never overlap on the connection (the serial queue), because the caller
 * may hand us the runtime's only connection; a query first moves everything pending
 * into the table, so it always sees every appended tick.
 */
export class DuckDbTickHistory implements TickHistory {
  private cols: Column[] = newColumns();
  private pendingRows = 0;
  private unflushed = 0;
  private drainQueued = false;
  private sinceCheckpoint = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private appender: DuckDBAppender | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Background flushes that failed (their rows are lost to history); the last error is kept. */
  writeErrors = 0;
  /** Where the write cost goes (ms of the event loop): rows into data chunks, and appender flushes into the table. */
  readonly costs = { rows: 0, flushedRows: 0, chunks: 0, chunkMs: 0, maxChunkMs: 0, flushes: 0, flushMs: 0, maxFlushMs: 0, checkpoints: 0, checkpointWallMs: 0, checkpointsFailed: 0 };
  lastError: unknown;

  private readonly sliceRows: number;
  private readonly flushRows: number;
  private readonly checkpointRows: number;
  private readonly onWriteError: ((error: unknown, rows: number) => void) | undefined;

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly owned: { instance?: DuckDBInstance; conn: boolean },
    private readonly table: string,
    opts: DuckDbTickHistoryOptions,
  ) {
    this.sliceRows = Math.max(1, Math.min(CHUNK_ROWS, opts.sliceRows ?? SLICE_ROWS));
    this.flushRows = Math.max(1, opts.flushRows ?? FLUSH_ROWS);
    this.checkpointRows = opts.checkpointRows ?? CHECKPOINT_ROWS;
    this.onWriteError = opts.onWriteError;
  }

  static async open(opts: DuckDbTickHistoryOptions = {}): Promise<DuckDbTickHistory> {
    const table = opts.table ?? 'stream_ticks';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new EaChaosError('E_CONFIG', `bad history table name ${table}`);
    let conn = opts.connection;
    let instance: DuckDBInstance | undefined;
    try {
      if (!conn) {
        instance = await DuckDBInstance.create(opts.path ?? ':memory:', opts.threads ? { threads: String(opts.threads) } : {});
        conn = await DuckDBConnection.create(instance);
      }
      await conn.run(
        `CREATE TABLE IF NOT EXISTS ${table} (epoch BIGINT, seq BIGINT, symbol VARCHAR, bid DOUBLE, ask DOUBLE, last DOUBLE, volume DOUBLE, time_msc BIGINT, flags INTEGER, feed_seq BIGINT, feed_epoch BIGINT, stored_at BIGINT, feed_stream VARCHAR, volume_real DOUBLE)`,
      );
      // How far each stream epoch is synced to ClickHouse (tick-sync.ts): the backlog is the table itself.
      await conn.run(`CREATE TABLE IF NOT EXISTS ${table}_synced (epoch BIGINT PRIMARY KEY, seq BIGINT NOT NULL)`);
    } catch (e) {
      throw new EaChaosError('E_TICK_HISTORY', `cannot open tick history in DuckDB: ${(e as Error).message}`, { cause: e });
    }
    const h = new DuckDbTickHistory(conn, { instance, conn: !opts.connection }, table, opts);
    h.appender = await conn.createAppender(table);
    return h;
  }

  append(t: StreamTick, storedAt: number): void {
    if (this.closed) return;
    const k = t.tick;
    const c = this.cols;
    const i = this.pendingRows++;
    c[0]![i] = t.epoch;
    c[1]![i] = t.seq;
    c[2]![i] = k.symbol;
    c[3]![i] = k.bid;
    c[4]![i] = k.ask;
    c[5]![i] = k.last;
    c[6]![i] = k.volume;
    c[7]![i] = k.time_msc;
    c[8]![i] = k.flags;
    c[9]![i] = k.seq ?? -1;
    c[10]![i] = k.epoch ?? -1;
    c[11]![i] = storedAt;
    c[12]![i] = k.stream ?? null;
    c[13]![i] = k.volume_real ?? null;
    this.schedule();
  }

  /** Rows packed by TickPacker (the history worker's input); `dict` resolves their string ids. */
  appendPacked(rows: Float64Array, n: number, dict: readonly string[]): void {
    if (this.closed) return;
    const c = this.cols;
    for (let r = 0; r < n; r++) {
      const o = r * ROW;
      const i = this.pendingRows++;
      c[0]![i] = rows[o]!;
      c[1]![i] = rows[o + 1]!;
      c[2]![i] = dict[rows[o + 2]!]!;
      c[3]![i] = rows[o + 3]!;
      c[4]![i] = rows[o + 4]!;
      c[5]![i] = rows[o + 5]!;
      c[6]![i] = rows[o + 6]!;
      c[7]![i] = rows[o + 7]!;
      c[8]![i] = rows[o + 8]!;
      c[9]![i] = rows[o + 9]!;
      c[10]![i] = rows[o + 10]!;
      c[11]![i] = rows[o + 11]!;
      const stream = rows[o + 12]!;
      c[12]![i] = stream < 0 ? null : dict[stream]!;
      const vr = rows[o + 13]!;
      c[13]![i] = Number.isNaN(vr) ? null : vr;
    }
    this.schedule();
  }

  private schedule(): void {
    // A chunk and a flush each have a fixed cost, so a chunk per event-loop turn cost ~4 µs a row;
    // but one chunk and flush of 2048 rows stalls the loop ~5 ms, which ticks arriving meanwhile
    // wait out. So: a chunk per SLICE_ROWS (< 1 ms, done before the next feed batch arrives), and
    // the flush, every FLUSH_ROWS, in a turn of its own.
    if (this.pendingRows >= this.sliceRows && !this.drainQueued) {
      this.drainQueued = true;
      setImmediate(this.drain);
    } else if (this.idleTimer === undefined) {
      // A slow stream still reaches the table within a second (I/O plumbing, not logic: no Clock).
      this.idleTimer = setTimeout(this.drain, IDLE_DRAIN_MS);
      this.idleTimer.unref();
    }
  }

  private readonly drain = () => {
    this.drainQueued = false;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    void this.serial(async () => {
      if (this.unflushed >= this.flushRows) {
        this.flushAppender();
        if (this.sinceCheckpoint >= this.checkpointRows) await this.checkpoint();
      } else {
        this.moveToAppender();
        if ((this.unflushed >= this.flushRows || this.pendingRows >= this.sliceRows) && !this.drainQueued) {
          this.drainQueued = true;
          setImmediate(this.drain);
        }
      }
    }).catch((e: unknown) => {
      this.writeErrors++;
      this.lastError = e;
      this.onWriteError?.(e, this.lostRows());
    });
  };

  /** Rows a failed write took with it: whatever had not reached the table yet. */
  private lostRows(): number {
    const n = this.unflushed;
    this.unflushed = 0;
    return n;
  }

  /** Pending rows → data chunks in the Appender (not yet in the table). Inside the serial queue only. */
  private moveToAppender(): void {
    const a = this.appender;
    const n = this.pendingRows;
    if (!a || n === 0) return;
    const t0 = performance.now();
    const cols = this.cols;
    this.cols = newColumns();
    this.pendingRows = 0;
    this.unflushed += n;
    for (let from = 0; from < n; from += CHUNK_ROWS) {
      const to = Math.min(n, from + CHUNK_ROWS);
      const chunk = DuckDBDataChunk.create(CHUNK_TYPES, to - from);
      chunk.setColumns(from === 0 && to === n ? cols : cols.map((col) => col.slice(from, to)));
      a.appendDataChunk(chunk);
      this.costs.chunks++;
    }
    this.costs.rows += n;
    const ms = performance.now() - t0;
    this.costs.chunkMs += ms;
    if (ms > this.costs.maxChunkMs) this.costs.maxChunkMs = ms;
  }

  private flushAppender(): void {
    if (!this.appender || this.unflushed === 0) return;
    const t0 = performance.now();
    this.appender.flushSync();
    this.sinceCheckpoint += this.unflushed;
    this.costs.flushedRows += this.unflushed;
    this.unflushed = 0;
    const ms = performance.now() - t0;
    this.costs.flushes++;
    this.costs.flushMs += ms;
    if (ms > this.costs.maxFlushMs) this.costs.maxFlushMs = ms;
  }

  /**
   * DuckDB checkpoints on its own once its WAL passes a threshold, synchronously inside the commit
   * that crosses it: a flush then stalls the event loop 60-140 ms (measured, :memory: included).
   * Checkpointing earlier, as a query, runs on libuv's thread pool instead. Another connection's
   * open write transaction makes it fail; it is then simply tried again later.
   */
  private async checkpoint(): Promise<void> {
    this.sinceCheckpoint = 0;
    const t0 = performance.now();
    try {
      await this.conn.run('CHECKPOINT');
      this.costs.checkpoints++;
      this.costs.checkpointWallMs += performance.now() - t0;
    } catch {
      this.costs.checkpointsFailed++;
    }
  }

  /** Move every pending row into the table. Inside the serial queue only. */
  private flushNow(): void {
    this.moveToAppender();
    this.flushAppender();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }

  /** Write buffered rows now (the streamer calls this on a timer). */
  flush(): Promise<void> {
    return this.serial(async () => this.flushNow());
  }

  /**
   * A range of one epoch, by seq or by time_msc (inclusive), ordered by seq, as packed rows whose
   * `strs` is the whole dictionary they use: the form a history worker sends its answers in.
   */
  queryPacked(by: 'seq' | 'time', epoch: number, from: number, to: number, limit: number): Promise<PackedTicks> {
    const where = by === 'seq' ? 'epoch = $1 AND seq >= $2 AND seq <= $3' : 'epoch = $1 AND time_msc >= $2 AND time_msc <= $3';
    return this.serial(async () => {
      this.flushNow();
      const reader = await this.conn.runAndReadAll(
        `SELECT ${SELECT_PACKED} FROM ${this.table} WHERE ${where} ORDER BY seq LIMIT ${Math.max(0, Math.floor(limit))}`,
        [BigInt(epoch), BigInt(from), BigInt(to)],
      );
      const cols = reader.getColumnsJS() as (number | string | null)[][];
      const n = reader.currentRowCount;
      const rows = new Float64Array(n * ROW);
      const ids = new Map<string, number>();
      const strs: string[] = [];
      const id = (s: string) => {
        let i = ids.get(s);
        if (i === undefined) {
          i = strs.length;
          ids.set(s, i);
          strs.push(s);
        }
        return i;
      };
      for (let c = 0; c < ROW; c++) {
        const col = cols[c]!;
        for (let r = 0; r < n; r++) {
          const v = col[r];
          rows[r * ROW + c] = c === 2 ? id(String(v)) : c === 12 ? (v === null ? -1 : id(String(v))) : c === 13 && v === null ? NaN : Number(v);
        }
      }
      return { rows, n, strs };
    });
  }

  async bySeq(epoch: number, fromSeq: number, toSeq: number, limit: number): Promise<StreamTick[]> {
    const p = await this.queryPacked('seq', epoch, fromSeq, toSeq, limit);
    return unpackTicks(p.rows, p.n, p.strs);
  }

  async byTime(epoch: number, fromMs: number, toMs: number, limit: number): Promise<StreamTick[]> {
    const p = await this.queryPacked('time', epoch, fromMs, toMs, limit);
    return unpackTicks(p.rows, p.n, p.strs);
  }

  /**
   * The oldest ticks not yet synced to ClickHouse, in stream order (epoch by epoch, seq ascending).
   * Sequence numbers only grow within an epoch, so one mark per epoch says what is done; epochs
   * are random, so the marks are per epoch rather than one global one.
   */
  unsynced(limit: number): Promise<UnsyncedTick[]> {
    return this.serial(async () => {
      this.flushNow();
      const marks = (await this.conn.runAndReadAll(`SELECT epoch::DOUBLE AS epoch, seq::DOUBLE AS seq FROM ${this.table}_synced`)).getRowObjectsJS() as {
        epoch: number;
        seq: number;
      }[];
      const done = marks.map((m) => `(epoch = ${Math.trunc(m.epoch)} AND seq > ${Math.trunc(m.seq)})`);
      const where = marks.length === 0 ? '' : `WHERE ${[...done, `epoch NOT IN (${marks.map((m) => Math.trunc(m.epoch)).join(',')})`].join(' OR ')}`;
      const r = await this.conn.runAndReadAll(
        `SELECT epoch::DOUBLE AS epoch, seq::DOUBLE AS seq, symbol, bid, ask, last, volume, time_msc::DOUBLE AS time_msc, flags, stored_at::DOUBLE AS stored_at FROM ${this.table} ${where} ORDER BY epoch, seq LIMIT ${Math.max(0, Math.floor(limit))}`,
      );
      return r.getRowObjectsJS() as unknown as UnsyncedTick[];
    });
  }

  /** Record the highest seq per epoch that ClickHouse acknowledged. */
  markSynced(marks: readonly { epoch: number; seq: number }[]): Promise<void> {
    return this.serial(async () => {
      for (const m of marks) await this.conn.run(`INSERT OR REPLACE INTO ${this.table}_synced VALUES ($1, $2)`, [BigInt(m.epoch), BigInt(m.seq)]);
    });
  }

  prune(beforeMs: number): Promise<number> {
    return this.serial(async () => {
      this.flushNow();
      const r = await this.conn.run(`DELETE FROM ${this.table} WHERE stored_at < $1`, [BigInt(beforeMs)]);
      // Marks of epochs with no tick left are done with (ticks older than 24 h may be lost, seed §2.2).
      await this.conn.run(`DELETE FROM ${this.table}_synced WHERE epoch NOT IN (SELECT DISTINCT epoch FROM ${this.table})`);
      return r.rowsChanged;
    });
  }

  close(): Promise<void> {
    if (this.closed) return this.busy.then(() => undefined);
    this.closed = true;
    clearTimeout(this.idleTimer);
    return this.serial(async () => {
      this.flushNow();
      this.appender?.closeSync();
      this.appender = undefined;
      if (this.owned.conn) this.conn.closeSync();
      this.owned.instance?.closeSync();
    });
  }
}
