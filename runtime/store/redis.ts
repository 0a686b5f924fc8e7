import { Redis, type RedisOptions } from 'ioredis';
import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { EventBus } from '../../core/events.ts';
import type { Logger } from '../../core/log.ts';
import type { Random } from '../../core/random.ts';
import type { OrderRow, PositionRow } from './rows.ts';

/**
 * Redis state through Sentinel (seed §3.3, §3.7): RTS (orders and positions
 * of this instance), RIS (instance registry with heartbeats) and the session.
 *
 * Redis is a write-behind mirror: DuckDB has already committed every change,
 * so a Redis outage never blocks trading (seed §3.1 step 4). Pitfalls handled
 * (measured-pitfalls.md):
 *  - a hung master is invisible without `failoverDetector`, so it is on, with a
 *    100 ms `disconnectTimeout`;
 *  - with it, a crashed master can leave the client permanently dead
 *    ("Connection is closed."): the client's `end` event, or a command failing
 *    that way, makes us throw the client away and build a new one;
 *  - Sentinel may elect a leader and never promote: we then keep retrying every
 *    2 s, fall back to ClickHouse for shared-state reads after 10 failures, and
 *    when a master answers again we rebuild its content from DuckDB (a marker key
 *    tells whether the data survived);
 *  - a master restarted within a few ms (from its AOF, or from an old RDB after
 *    corruption) can come back before any write of ours failed: a new master
 *    run_id alone triggers the same rebuild.
 */

export interface RedisStateOptions {
  sentinels: { host: string; port: number }[];
  masterName: string;
  natMap?: Record<string, { host: string; port: number }>;
  instanceId: string;
  clock: Clock;
  random: Random;
  events: EventBus;
  log: Logger;
  /** seed §3.1 step 4: retry Redis every 2 s (scaled). */
  retryMs: number;
  /** seed §3.1: after 10 failed attempts read state from ClickHouse. */
  fallbackThreshold: number;
  /** seed §3.7: session reconnect period and attempts before a new session. */
  sessionReconnectMs: number;
  sessionMaxAttempts: number;
  heartbeatMs: number;
  /** Called once when the fallback engages (seed §3.1 step 5: read state from ClickHouse). */
  onFallback?: () => void;
  /** Full state to rewrite after an outage (from DuckDB). */
  snapshot: () => Promise<{ orders: OrderRow[]; positions: PositionRow[] }>;
  /**
   * Called by the first resync of this process, with the orders Redis holds, before Redis is
   * rewritten from `snapshot`. At start the owner's state can be older than Redis's: a crash loses
   * DuckDB's last lazy rows, which the faster write-behind had already put in Redis. The owner
   * merges the newer ones, so the rewrite does not put the older versions back (seen: an order
   * filled in DuckDB and ClickHouse stayed `persisted` in Redis). Later resyncs follow outages
   * during which the owner alone took writes, so its state is the newest and they skip this.
   */
  mergeBeforeFirstResync?: (rows: OrderRow[]) => Promise<void>;
}

export type RedisStatus = 'connecting' | 'up' | 'down' | 'fallback';

type Pending = { key: string; field: string; value: string };

export class RedisState implements AsyncDisposable {
  private client: Redis | undefined;
  private pending = new Map<string, Pending>();
  private flushing: Promise<void> | undefined;
  private retryTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private sessionTimer: TimerHandle | undefined;
  private stopped = false;
  private failures = 0;
  private masterRunId: string | undefined;
  private needsResync = true;
  private sessionFailures = 0;
  status: RedisStatus = 'connecting';
  sessionId: string;
  readonly epoch: string;
  /** How many dead clients were replaced (pitfall: "Connection is closed."). */
  recreated = 0;
  lastResync: { at: number; orders: number; positions: number; rebuilt: boolean } | undefined;

  constructor(private readonly o: RedisStateOptions) {
    this.epoch = `${o.instanceId}:${o.clock.now()}`;
    this.sessionId = this.newSessionId();
  }

  private get k() {
    const i = this.o.instanceId;
    return {
      orders: `ea:rts:${i}:orders`,
      positions: `ea:rts:${i}:positions`,
      marker: `ea:rts:${i}:epoch`,
      ris: 'ea:ris',
      alive: `ea:ris:${i}:alive`,
      session: `ea:session:${i}`,
    };
  }

  private newSessionId(): string {
    return `${this.o.instanceId}-${this.o.clock.now().toString(36)}-${this.o.random.int(0, 0xffffff).toString(36)}`;
  }

  start(): this {
    this.makeClient();
    this.scheduleHeartbeat();
    this.scheduleSession();
    return this;
  }

  private options(): RedisOptions {
    const opts: RedisOptions = {
      sentinels: this.o.sentinels,
      name: this.o.masterName,
      failoverDetector: true,
      disconnectTimeout: 100,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 500,
      commandTimeout: 1000,
      sentinelCommandTimeout: 500,
      // Reconnection is ioredis' job at a short fixed period; the seed's 2 s is our write retry.
      retryStrategy: () => 100,
      sentinelRetryStrategy: () => 100,
      lazyConnect: false,
    };
    if (this.o.natMap) opts.natMap = this.o.natMap;
    return opts;
  }

  private makeClient(): void {
    if (this.stopped) return;
    const c = new Redis(this.options());
    this.client = c;
    c.on('error', () => {
      /* surfaced through failing commands */
    });
    c.on('ready', () => {
      if (c !== this.client) return;
      void this.onReady(c);
    });
    c.on('end', () => {
      if (c !== this.client || this.stopped) return;
      this.recreate('end');
    });
  }

  private recreate(reason: string): void {
    const old = this.client;
    this.client = undefined;
    old?.removeAllListeners('ready');
    old?.removeAllListeners('end');
    old?.disconnect();
    this.recreated++;
    this.o.events.emit('redis', 'redis.client_recreated', { reason, count: this.recreated });
    this.o.log.warn({ reason }, 'redis: client is dead; recreating it');
    this.makeClient();
  }

  private async onReady(c: Redis): Promise<void> {
    try {
      const info = await c.info('server');
      const runId = /run_id:(\w+)/.exec(info)?.[1];
      const port = /tcp_port:(\d+)/.exec(info)?.[1];
      if (this.masterRunId && runId && runId !== this.masterRunId) {
        // Another master (a promoted replica that lagged, or a restart from an AOF or an old
        // RDB snapshot) may lack writes even when none of ours failed in between: rewrite
        // everything from DuckDB, as after an outage.
        this.needsResync = true;
        this.o.events.emit('redis', 'redis.master_changed', { from: this.masterRunId, to: runId, port: port ? Number(port) : undefined });
        this.o.log.warn({ runId, port }, 'redis: master changed');
      }
      if (runId) this.masterRunId = runId;
    } catch {
      /* the next flush will notice */
    }
    void this.flushNow();
  }

  // ---------- writes ----------

  putOrder(r: OrderRow): void {
    this.pending.set(`o:${r.clientId}`, { key: this.k.orders, field: r.clientId, value: JSON.stringify({ rev: r.rev, data: r.data }) });
    this.kick();
  }

  putPosition(r: PositionRow): void {
    this.pending.set(`p:${r.ticket}`, { key: this.k.positions, field: String(r.ticket), value: JSON.stringify({ rev: r.rev, data: r.data }) });
    this.kick();
  }

  get backlog(): number {
    return this.pending.size;
  }

  private kick(): void {
    if (this.status === 'up' && !this.flushing) this.flushNow();
  }

  /** Write the backlog now (also used by the retry timer and on `ready`). */
  flushNow(): Promise<void> {
    if (this.flushing || this.stopped) return this.flushing ?? Promise.resolve();
    this.flushing = (async () => {
      // A few ms of gathering turns a write per order change into one MULTI per window.
      await this.o.clock.sleep(5);
      try {
        while (!this.stopped) {
          const c = this.client;
          if (!c || c.status !== 'ready') throw new Error(`redis client ${c?.status ?? 'missing'}`);
          if (this.needsResync) await this.resync(c);
          if (this.pending.size === 0) break;
          const batch = [...this.pending.entries()];
          this.pending.clear();
          try {
            const m = c.multi();
            for (const [, p] of batch) m.hset(p.key, p.field, p.value);
            const res = await m.exec();
            const err = res?.find(([e]) => e)?.[0];
            if (err) throw err;
          } catch (e) {
            // Put back what was not written, unless a newer version arrived meanwhile.
            for (const [id, p] of batch) if (!this.pending.has(id)) this.pending.set(id, p);
            throw e;
          }
        }
        this.markUp();
      } catch (e) {
        this.markFailure(e);
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private markUp(): void {
    if (this.status !== 'up') {
      const was = this.status;
      this.status = 'up';
      this.o.events.emit('redis', 'redis.up', { after: this.failures, was });
      this.o.log.info({ failures: this.failures, was }, 'redis: available');
    }
    this.failures = 0;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
  }

  private markFailure(e: unknown): void {
    const msg = (e as Error)?.message ?? String(e);
    if (/Connection is closed/.test(msg) && this.client && this.client.status === 'end') this.recreate('connection_closed');
    this.failures++;
    if (this.status === 'up' || this.status === 'connecting') {
      this.status = 'down';
      this.needsResync = true;
      this.o.events.emit('redis', 'redis.down', { error: msg });
      this.o.log.warn({ err: msg }, 'redis: unavailable; trade state stays in DuckDB, retrying');
    }
    if (this.status === 'down' && this.failures >= this.o.fallbackThreshold) {
      this.status = 'fallback';
      this.o.events.emit('redis', 'redis.fallback_engaged', { source: 'clickhouse', attempts: this.failures });
      this.o.log.error({ attempts: this.failures }, 'redis: fallback engaged, reading shared state from ClickHouse');
      this.o.onFallback?.();
    }
    this.needsResync = true;
    this.retryTimer?.cancel();
    this.retryTimer = this.o.clock.setTimer(this.o.retryMs, () => void this.flushNow());
  }

  /** Rewrite everything from DuckDB: after an outage the master may be new, empty or stale. */
  private async resync(c: Redis): Promise<void> {
    const marker = await c.get(this.k.marker);
    // Our marker gone after we had written it: the master that answers now lost the data.
    const rebuilt = marker === null && this.lastResync !== undefined;
    if (this.lastResync === undefined && this.o.mergeBeforeFirstResync) {
      const rows = await this.readOrders(c);
      if (rows) await this.o.mergeBeforeFirstResync(rows);
    }
    const snap = await this.o.snapshot();
    const m = c.multi();
    for (const r of snap.orders) m.hset(this.k.orders, r.clientId, JSON.stringify({ rev: r.rev, data: r.data }));
    for (const r of snap.positions) m.hset(this.k.positions, String(r.ticket), JSON.stringify({ rev: r.rev, data: r.data }));
    m.set(this.k.marker, this.epoch);
    await m.exec();
    this.needsResync = false;
    this.lastResync = { at: this.o.clock.now(), orders: snap.orders.length, positions: snap.positions.length, rebuilt };
    this.o.events.emit('redis', rebuilt ? 'redis.rebuilt' : 'redis.resynced', { orders: snap.orders.length, positions: snap.positions.length });
  }

  // ---------- RIS heartbeat ----------

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = this.o.clock.setTimer(this.o.heartbeatMs, () => {
      void this.heartbeat().finally(() => this.scheduleHeartbeat());
    });
  }

  private async heartbeat(): Promise<void> {
    const c = this.client;
    if (!c || c.status !== 'ready') return;
    const now = this.o.clock.now();
    try {
      await c
        .multi()
        .hset(this.k.ris, this.o.instanceId, JSON.stringify({ instance: this.o.instanceId, pid: process.pid, session: this.sessionId, heartbeatAt: now }))
        .set(this.k.alive, String(now), 'PX', Math.max(1000, this.o.heartbeatMs * 3))
        .exec();
    } catch {
      /* the write path reports outages */
    }
  }

  // ---------- session (§3.7) ----------

  private scheduleSession(): void {
    if (this.stopped) return;
    this.sessionTimer = this.o.clock.setTimer(this.o.sessionReconnectMs, () => {
      void this.sessionCheck().finally(() => this.scheduleSession());
    });
  }

  /** One session check: read our session back; after `sessionMaxAttempts` failures start a new one. */
  async sessionCheck(): Promise<void> {
    const c = this.client;
    try {
      if (!c || c.status !== 'ready') throw new Error('redis not ready');
      const stored = await c.hget(this.k.session, 'id');
      if (stored !== this.sessionId) {
        await c.hset(this.k.session, { id: this.sessionId, instance: this.o.instanceId, renewedAt: String(this.o.clock.now()) });
        if (stored === null && this.sessionFailures === 0) this.o.events.emit('session', 'session.started', { session: this.sessionId });
      }
      if (this.sessionFailures > 0) {
        this.o.events.emit('session', 'session.recovered', { session: this.sessionId, attempts: this.sessionFailures });
        this.sessionFailures = 0;
      }
    } catch (e) {
      this.sessionFailures++;
      this.o.events.emit('session', 'session.reconnect_failed', { attempt: this.sessionFailures, error: (e as Error).message });
      if (this.sessionFailures >= this.o.sessionMaxAttempts) {
        const old = this.sessionId;
        this.sessionId = this.newSessionId();
        this.sessionFailures = 0;
        this.o.events.emit('session', 'session.renewed', { from: old, to: this.sessionId });
        this.o.log.warn({ from: old, to: this.sessionId }, 'session: recovery failed 5 times; started a new session');
      }
    }
  }

  // ---------- reads (for restores) ----------

  /** Orders held in RTS, for rebuilding DuckDB. Undefined when Redis cannot answer. */
  private async readOrders(c: Redis): Promise<OrderRow[] | undefined> {
    try {
      const h = await c.hgetall(this.k.orders);
      return Object.entries(h).map(([clientId, v]) => {
        const { rev, data } = JSON.parse(v) as { rev: number; data: string };
        const o = JSON.parse(data) as { state: string; updatedAt: number };
        return { clientId, rev, data, state: o.state, updatedAt: o.updatedAt };
      });
    } catch {
      return undefined;
    }
  }

  /**
   * Wait (bounded) for this process's first resync, which merges what Redis holds newer than the
   * owner before rewriting it (`mergeBeforeFirstResync`): at start-up, before the runtime says
   * ready. False when Redis did not answer in time; the resync then runs when it does.
   */
  async firstResync(ms: number): Promise<boolean> {
    const deadline = this.o.clock.monotonic() + ms;
    while (this.lastResync === undefined && this.o.clock.monotonic() < deadline) await this.o.clock.sleep(20);
    return this.lastResync !== undefined;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.flushing;
    if (this.status === 'up' && this.pending.size > 0) await this.flushNow();
    this.stopped = true;
    this.retryTimer?.cancel();
    this.heartbeatTimer?.cancel();
    this.sessionTimer?.cancel();
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('end');
      c.disconnect();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
