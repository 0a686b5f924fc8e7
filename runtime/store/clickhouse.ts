import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { EventBus } from '../../core/events.ts';
import type { Logger } from '../../core/log.ts';
import { Periodic, retry, RetriesExhaustedError, waitOrWake, Wake } from '../policy.ts';
import type { DuckStore } from './duckdb.ts';
import type { DealRow, FailedSync, OrderRow, PositionRow } from './rows.ts';

/**
 * ClickHouse sync (seed §3.5). Orders, deals and positions are written in
 * batches to ReplacingMergeTree tables whose version column is the row's `rev`,
 * so any retry or replay of a batch is idempotent (ClickHouse 18.16 has no
 * insert_deduplication_token). The SQL avoids everything newer than 18.16:
 * DateTime plus a millisecond UInt64 column instead of DateTime64, no query
 * parameters.
 *
 * A failed batch is retried every 5 s up to 3 times (wakeable by the health
 * probe), then parked in DuckDB `failed_syncs`; the parked batches drain every
 * 30 s, and at once when the probe sees ClickHouse back (the seed's 30 s period
 * alone cannot meet its own < 5 s goal).
 */

export interface ClickhouseSyncOptions {
  url: string;
  database: string;
  instanceId: string;
  clock: Clock;
  events: EventBus;
  log: Logger;
  duck: DuckStore;
  retryIntervalMs: number;
  maxRetryAttempts: number;
  failedSyncRetryMs: number;
  healthProbeIntervalMs: number;
  /** Rows per insert. */
  batchSize?: number;
  /**
   * The longest a change waits before it is sent: changes gather into one insert per table per
   * window. Every insert is a new part that ClickHouse merges, and while a table is small (parts
   * under ClickHouse's 5 MB "fixed cost" of a merge) each merge rewrites the whole table: measured
   * on 18.16, 12 inserts/s into a 20,000-row table kept it 46 % busy, 1/s about 2 %. ClickHouse
   * advises about one insert per second; 1 s stays far inside the seed's 30 s max sync delay.
   */
  batchWindowMs?: number;
}

type Table = 'orders' | 'deals' | 'positions';

interface Batch {
  orders: Record<string, unknown>[];
  deals: Record<string, unknown>[];
  positions: Record<string, unknown>[];
}

function dt(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export type ClickhouseStatus = 'connecting' | 'up' | 'down';

export class ClickhouseSync implements AsyncDisposable {
  private readonly client: ClickHouseClient;
  private pending = new Map<string, { table: Table; row: Record<string, unknown> }>();
  /** When the oldest row in `pending` was queued (monotonic ms); undefined while empty. */
  private oldestPendingAt: number | undefined;
  private flushing: Promise<void> | undefined;
  private schemaReady = false;
  private probeTimer: TimerHandle | undefined;
  private readonly drain: Periodic;
  private readonly wake = new Wake();
  /** Ends a gathering window early: the sync stops, or someone waits for everything queued. */
  private readonly cutShort = new Wake();
  private hurry = 0;
  private stopped = false;
  private parked = 0;
  private downSince: number | undefined;
  status: ClickhouseStatus = 'connecting';
  lastDrain: { at: number; batches: number; ms: number } | undefined;

  constructor(private readonly o: ClickhouseSyncOptions) {
    this.client = createClient({
      url: o.url,
      // The database may not exist yet: schema creation names it explicitly.
      keep_alive: { enabled: false },
      request_timeout: 2000,
      // Failures are ours to report (events + pino), not the client's console.
      log: { level: ClickHouseLogLevel.OFF },
    });
    this.drain = new Periodic(o.clock, o.failedSyncRetryMs, () => this.drainFailed(), (e) =>
      o.log.warn({ err: (e as Error).message }, 'clickhouse: drain failed'),
    );
  }

  private get db(): string {
    return this.o.database;
  }

  async start(): Promise<this> {
    this.parked = (await this.o.duck.loadFailedSyncs('clickhouse')).length;
    this.drain.start();
    if (this.parked > 0) void this.drain.trigger();
    return this;
  }

  private async ensureSchema(): Promise<void> {
    if (this.schemaReady) return;
    const db = this.db;
    await this.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    await this.client.command({
      query: `CREATE TABLE IF NOT EXISTS ${db}.orders (instance String, client_id String, state String, rev UInt64, updated_ms UInt64, updated DateTime, data String) ENGINE = ReplacingMergeTree(rev) ORDER BY (instance, client_id)`,
    });
    await this.client.command({
      query: `CREATE TABLE IF NOT EXISTS ${db}.deals (instance String, deal UInt64, client_id String, rev UInt64, data String) ENGINE = ReplacingMergeTree(rev) ORDER BY (instance, deal)`,
    });
    await this.client.command({
      query: `CREATE TABLE IF NOT EXISTS ${db}.positions (instance String, ticket UInt64, status String, rev UInt64, data String) ENGINE = ReplacingMergeTree(rev) ORDER BY (instance, ticket)`,
    });
    this.schemaReady = true;
  }

  private queue(key: string, entry: { table: Table; row: Record<string, unknown> }): void {
    this.oldestPendingAt ??= this.o.clock.monotonic();
    this.pending.set(key, entry);
    this.kick();
  }

  putOrder(r: OrderRow): void {
    this.queue(`o:${r.clientId}`, {
      table: 'orders',
      row: { instance: this.o.instanceId, client_id: r.clientId, state: r.state, rev: r.rev, updated_ms: r.updatedAt, updated: dt(r.updatedAt), data: r.data },
    });
  }
  putDeal(r: DealRow): void {
    this.queue(`d:${r.deal}`, { table: 'deals', row: { instance: this.o.instanceId, deal: r.deal, client_id: r.clientId, rev: r.rev, data: r.data } });
  }
  putPosition(r: PositionRow): void {
    this.queue(`p:${r.ticket}`, { table: 'positions', row: { instance: this.o.instanceId, ticket: r.ticket, status: r.status, rev: r.rev, data: r.data } });
  }

  /** Rows not yet in ClickHouse: in memory plus parked batches. */
  backlog(): { pending: number; parkedBatches: number } {
    return { pending: this.pending.size, parkedBatches: this.parked };
  }

  private kick(): void {
    if (!this.flushing && !this.stopped) this.flushing = this.flushLoop();
  }

  /** Sends what is queued without waiting out the window; resolves once all of it is written or parked. */
  async flushed(): Promise<void> {
    this.hurry++;
    this.cutShort.fire();
    try {
      while (this.flushing) await this.flushing;
    } finally {
      this.hurry--;
    }
  }

  private takeBatch(): Batch {
    const b: Batch = { orders: [], deals: [], positions: [] };
    const max = this.o.batchSize ?? 5000;
    let n = 0;
    for (const [id, p] of this.pending) {
      if (n++ >= max) break;
      b[p.table].push(p.row);
      this.pending.delete(id);
    }
    // Rows left behind by a full batch keep their age, so the next batch goes at once.
    if (this.pending.size === 0) this.oldestPendingAt = undefined;
    return b;
  }

  private async insertBatch(b: Batch): Promise<void> {
    await this.ensureSchema();
    for (const t of ['orders', 'deals', 'positions'] as const) {
      if (b[t].length > 0) await this.client.insert({ table: `${this.db}.${t}`, values: b[t], format: 'JSONEachRow' });
    }
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.size > 0 && !this.stopped) {
        // Wait out the window between batches too, not only before the first: a loop that sent
        // whatever arrived during the last insert made ~14 inserts/s per table at 100 orders/s.
        // Rows that waited out an outage or a full batch are already due and go at once.
        const due = (this.oldestPendingAt ?? this.o.clock.monotonic()) + (this.o.batchWindowMs ?? 1000) - this.o.clock.monotonic();
        if (due > 0 && this.hurry === 0) await waitOrWake(this.o.clock, due, this.cutShort);
        if (this.stopped) break;
        const batch = this.takeBatch();
        const policy = retry({
          clock: this.o.clock,
          delays: [this.o.retryIntervalMs],
          maxRetries: this.o.maxRetryAttempts,
          handle: () => !this.stopped,
          wake: this.wake,
          onRetry: ({ attempt, error }) => this.o.events.emit('clickhouse', 'sync.retry', { attempt, error: (error as Error).message }),
        });
        try {
          await policy.execute(async () => {
            try {
              await this.insertBatch(batch);
              this.markUp();
            } catch (e) {
              this.markDown(e);
              throw e;
            }
          });
        } catch (e) {
          if (!(e instanceof RetriesExhaustedError) && this.stopped) throw e;
          await this.park(batch, (e as Error).message);
        }
      }
    } finally {
      this.flushing = undefined;
      if (this.pending.size > 0 && !this.stopped) this.kick();
    }
  }

  private async park(b: Batch, error: string): Promise<void> {
    const now = this.o.clock.now();
    const row: FailedSync = {
      id: `ch-${now}-${Math.floor(this.o.clock.monotonic() * 1000) % 1_000_000_000}-${this.parked}`,
      kind: 'clickhouse',
      ref: `${b.orders.length}o/${b.deals.length}d/${b.positions.length}p`,
      payload: JSON.stringify(b),
      attempts: this.o.maxRetryAttempts + 1,
      createdAt: now,
      lastError: error,
    };
    await this.o.duck.putFailedSync(row);
    this.parked++;
    this.o.events.emit('clickhouse', 'sync.parked', { id: row.id, rows: b.orders.length + b.deals.length + b.positions.length });
    this.o.log.warn({ id: row.id, ref: row.ref }, 'clickhouse: batch failed 3 retries; parked in failed_syncs');
  }

  private async drainFailed(): Promise<void> {
    const rows = await this.o.duck.loadFailedSyncs('clickhouse');
    this.parked = rows.length;
    if (rows.length === 0) return;
    const t0 = this.o.clock.monotonic();
    let done = 0;
    for (const r of rows) {
      try {
        await this.insertBatch(JSON.parse(r.payload) as Batch);
        this.markUp();
      } catch (e) {
        this.markDown(e);
        await this.o.duck.putFailedSync({ ...r, attempts: r.attempts + 1, lastError: (e as Error).message });
        break;
      }
      await this.o.duck.deleteFailedSync(r.id);
      done++;
      this.parked--;
    }
    if (done > 0 && this.parked === 0) {
      const ms = this.o.clock.monotonic() - t0;
      this.lastDrain = { at: this.o.clock.now(), batches: done, ms };
      this.o.events.emit('clickhouse', 'sync.drained', { batches: done, ms });
      this.o.log.info({ batches: done, ms }, 'clickhouse: failed_syncs drained');
    }
  }

  private markUp(): void {
    if (this.status === 'up') return;
    const was = this.status;
    this.status = 'up';
    this.probeTimer?.cancel();
    this.probeTimer = undefined;
    const downMs = this.downSince === undefined ? 0 : this.o.clock.now() - this.downSince;
    this.downSince = undefined;
    this.o.events.emit('clickhouse', 'clickhouse.up', { was, downMs });
    this.wake.fire();
    if (this.parked > 0) void this.drain.trigger();
  }

  private markDown(e: unknown): void {
    if (this.status === 'down') return;
    this.status = 'down';
    this.downSince = this.o.clock.now();
    this.o.events.emit('clickhouse', 'clickhouse.down', { error: (e as Error)?.message });
    this.o.log.warn({ err: (e as Error)?.message }, 'clickhouse: unavailable; probing');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.stopped || this.status !== 'down') return;
    this.probeTimer = this.o.clock.setTimer(this.o.healthProbeIntervalMs, () => {
      void this.client
        .ping()
        .then((r) => {
          if (r.success) this.markUp();
          else this.scheduleProbe();
        })
        .catch(() => this.scheduleProbe());
    });
  }

  /** Orders of this instance as ClickHouse has them (FINAL: newest rev per order). */
  async readOrders(): Promise<OrderRow[] | undefined> {
    try {
      await this.ensureSchema();
      const inst = this.o.instanceId.replace(/[^A-Za-z0-9_.-]/g, '');
      const rs = await this.client.query({
        query: `SELECT client_id, state, rev, updated_ms, data FROM ${this.db}.orders FINAL WHERE instance = '${inst}'`,
        format: 'JSONEachRow',
      });
      const rows = (await rs.json()) as { client_id: string; state: string; rev: string | number; updated_ms: string | number; data: string }[];
      return rows.map((r) => ({ clientId: r.client_id, state: r.state, rev: Number(r.rev), updatedAt: Number(r.updated_ms), data: r.data }));
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // Give queued rows one chance to land; anything left is re-sent from DuckDB at next start.
    this.stopped = true;
    this.wake.fire();
    this.cutShort.fire();
    await this.flushing?.catch(() => {});
    this.probeTimer?.cancel();
    await this.drain.stop();
    await this.client.close().catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
