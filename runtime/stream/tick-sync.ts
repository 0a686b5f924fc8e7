import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { DuckDbTickHistory, UnsyncedTick } from './history-duckdb.ts';

/** What the tick sync needs to know, all durations already scaled (it runs in the history worker). */
export interface TickSyncOptions {
  url: string;
  database: string;
  instanceId: string;
  /** How long new ticks gather before an insert (ClickHouse advises about one insert per second). */
  intervalMs: number;
  /** §3.5: retry every 5 s… */
  retryIntervalMs: number;
  /** …up to 3 times; then the backlog waits for the drain period or the health probe. */
  maxRetryAttempts: number;
  /** §3.5's 30 s `failed_syncs` period, for the parked backlog. */
  drainIntervalMs: number;
  /** While ClickHouse is failing, how often to ask whether it is back. */
  healthProbeIntervalMs: number;
  /** Ticks per insert. */
  batchRows?: number;
}

export type TickSyncEvent =
  | { type: 'tick_sync.retry'; data: { attempt: number; error: string } }
  | { type: 'tick_sync.parked'; data: { attempts: number; error: string } }
  | { type: 'tick_sync.drained'; data: { ticks: number; downMs: number } };

/**
 * Ticks to ClickHouse (seed §3.5, issue 5: "orders, deals, positions and ticks (24 h)"), run in the
 * tick-history worker next to the DuckDB file that holds them. The backlog is that file: a mark per
 * stream epoch says how far ClickHouse has acknowledged, so nothing is parked elsewhere and a
 * restart goes on from the marks. Ticks older than the history's 24 h retention are pruned from
 * DuckDB whether synced or not: the seed accepts that loss (§2.2).
 *
 * Inserts are idempotent: `ReplacingMergeTree(stored_ms)` keyed by (instance, epoch, seq), so a batch
 * resent after a lost answer replaces itself. SQL valid on 18.16 (DateTime plus a millisecond
 * column, no DateTime64, no dedup tokens).
 *
 * Failures follow §3.5: retry every 5 s up to 3 times, then wait out the 30 s period; the health
 * probe cuts any wait short the moment ClickHouse answers, which is what meets the < 5 s goal.
 */
export class TickClickhouseSync {
  private readonly client: ClickHouseClient;
  private schemaReady = false;
  private stopped = false;
  /** stop() is sending the last batch: nothing new is scheduled. */
  private closing = false;
  private timer: TimerHandle | undefined;
  private probe: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private downSince: number | undefined;
  /** Ticks acknowledged by ClickHouse since start. */
  synced = 0;

  constructor(
    private readonly o: TickSyncOptions,
    private readonly history: DuckDbTickHistory,
    private readonly clock: Clock,
    private readonly emit: (e: TickSyncEvent) => void,
  ) {
    this.client = createClient({ url: o.url, keep_alive: { enabled: false }, request_timeout: 5000, log: { level: ClickHouseLogLevel.OFF } });
  }

  start(): this {
    this.schedule(this.o.intervalMs);
    return this;
  }

  private schedule(ms: number): void {
    if (this.stopped || this.closing) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimer(ms, () => {
      this.timer = undefined;
      this.running = this.cycle().finally(() => (this.running = undefined));
    });
  }

  private async ensureSchema(): Promise<void> {
    if (this.schemaReady) return;
    const db = this.o.database;
    await this.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    await this.client.command({
      query:
        `CREATE TABLE IF NOT EXISTS ${db}.ticks (instance String, epoch UInt64, seq UInt64, symbol String, bid Float64, ask Float64, last Float64, volume Float64, ` +
        `time DateTime, time_msc UInt64, flags UInt32, stored_ms UInt64) ENGINE = ReplacingMergeTree(stored_ms) PARTITION BY toYYYYMMDD(time) ORDER BY (instance, epoch, seq)`,
    });
    this.schemaReady = true;
  }

  private async cycle(): Promise<void> {
    let full = false;
    try {
      const rows = await this.history.unsynced(this.o.batchRows ?? 20_000);
      if (rows.length > 0) {
        await this.ensureSchema();
        await this.client.insert({ table: `${this.o.database}.ticks`, values: rows.map((r) => this.toClickhouse(r)), format: 'JSONEachRow' });
        const marks = new Map<number, number>();
        for (const r of rows) marks.set(r.epoch, Math.max(marks.get(r.epoch) ?? -1, r.seq));
        await this.history.markSynced([...marks].map(([epoch, seq]) => ({ epoch, seq })));
        this.synced += rows.length;
        full = rows.length >= (this.o.batchRows ?? 20_000);
      }
      if (this.downSince !== undefined) this.emit({ type: 'tick_sync.drained', data: { ticks: rows.length, downMs: this.clock.monotonic() - this.downSince } });
      this.failures = 0;
      this.downSince = undefined;
      this.stopProbe();
      this.schedule(full ? 0 : this.o.intervalMs);
    } catch (e) {
      if (this.stopped) return;
      const error = e instanceof Error ? e.message : String(e);
      this.failures++;
      this.downSince ??= this.clock.monotonic();
      this.schemaReady = false;
      if (this.failures <= this.o.maxRetryAttempts) {
        this.emit({ type: 'tick_sync.retry', data: { attempt: this.failures, error } });
        this.schedule(this.o.retryIntervalMs);
      } else {
        if (this.failures === this.o.maxRetryAttempts + 1) this.emit({ type: 'tick_sync.parked', data: { attempts: this.o.maxRetryAttempts, error } });
        this.schedule(this.o.drainIntervalMs);
      }
      this.startProbe();
    }
  }

  private toClickhouse(r: UnsyncedTick): Record<string, unknown> {
    return {
      instance: this.o.instanceId,
      epoch: r.epoch,
      seq: r.seq,
      symbol: r.symbol,
      bid: r.bid,
      ask: r.ask,
      last: r.last,
      volume: r.volume,
      time: Math.floor(r.time_msc / 1000),
      time_msc: r.time_msc,
      flags: r.flags,
      stored_ms: r.stored_at,
    };
  }

  /** While failing: a ping every probe period; the first answer runs the next cycle at once. */
  private startProbe(): void {
    if (this.probe || this.stopped || this.closing) return;
    const tick = () => {
      this.probe = this.clock.setTimer(this.o.healthProbeIntervalMs, () => {
        void this.client
          .ping()
          .then((r) => {
            if (this.stopped || !this.probe) return;
            if (r.success && this.timer && !this.running) {
              this.probe = undefined;
              this.schedule(0);
            } else tick();
          })
          .catch(() => this.probe && tick());
      });
    };
    tick();
  }

  private stopProbe(): void {
    this.probe?.cancel();
    this.probe = undefined;
  }

  /**
   * Idempotent. A cycle in flight is waited for, so the history closes after its last mark; with
   * ClickHouse answering, one last cycle sends what gathered since (the rest waits for the next start).
   */
  async stop(): Promise<void> {
    if (this.stopped || this.closing) return;
    this.closing = true;
    this.timer?.cancel();
    this.stopProbe();
    await this.running?.catch(() => {});
    if (this.failures === 0) await this.cycle().catch(() => {});
    this.stopped = true;
    this.stopProbe();
    await this.client.close().catch(() => {});
  }
}
