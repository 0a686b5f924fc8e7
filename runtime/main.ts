import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { systemClock, type Clock } from '../core/clock.ts';
import { ConfigError, EaChaosError } from '../core/errors.ts';
import { EventBus } from '../core/events.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { createRandom, type Random } from '../core/random.ts';
import { BrokerGateway } from './broker.ts';
import { effectiveConfig, loadRuntimeConfig, parseRuntimeConfig, type RuntimeConfig, type RuntimeConfigInput } from './config.ts';
import { ControlServer } from './control.ts';
import { OrderEngine, type StateMirror } from './engine.ts';
import { createNotifier } from './notifier.ts';
import { Periodic } from './policy.ts';
import { QuoteCache } from './quotes.ts';
import { ClickhouseSync } from './store/clickhouse.ts';
import type { TickSyncEvent } from './stream/tick-sync.ts';
import { DuckStore } from './store/duckdb.ts';
import { RedisState } from './store/redis.ts';
import { SeededStrategy } from './strategy.ts';
import type { TickStreamer } from './stream/streamer.ts';
import type { WorkerTickHistory } from './stream/history-thread.ts';

export { RuntimeConfigSchema, parseRuntimeConfig, loadRuntimeConfig, type RuntimeConfig, type RuntimeConfigInput } from './config.ts';
export type { OrderRecord, OrderState } from './order-state.ts';

/**
 * The reference EA runtime as a library call. `startRuntime` returns once the
 * control API listens and start-up recovery has begun; `/ready` turns 200 when
 * DuckDB is open and the start-up reconciliation with the broker is done.
 */
export interface StartRuntimeOptions {
  /** Path of the JSON config (validated; restored from its last-good copy if broken). */
  configFile?: string;
  /** An already-parsed config instead of a file (tests, bench). */
  config?: RuntimeConfigInput;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Called when POST /shutdown stopped the runtime. */
  onShutdown?: () => void;
  /** Command-line overrides applied after the file is validated (the supervisor passes --port and --instance). */
  overrides?: { controlPort?: number; instanceId?: string };
}

export interface RuntimeHandle extends AsyncDisposable {
  readonly url: string;
  readonly events: EventBus;
  readonly engine: OrderEngine;
  readonly config: RuntimeConfig;
  readonly duck: DuckStore;
  readonly redis: RedisState | undefined;
  readonly clickhouse: ClickhouseSync | undefined;
  /** The tick streamer, when the config has a `runtime.stream` section. */
  readonly streamer: TickStreamer | undefined;
  isReady(): boolean;
  /** Resolves when the runtime has stopped (POST /shutdown or stop()). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** The streamer's status for /state, without the stats the consumer side already has. */
function streamStatus(s: TickStreamer): Record<string, unknown> {
  const st = s.status();
  return { status: st.mode, udpHealthy: st.udpHealthy, tcp: st.tcp, epoch: st.epoch, lastSeq: st.lastSeq, udpAckAgeMs: Math.round(st.udpAckAgeMs), stats: st.stats };
}

export async function startRuntime(opts: StartRuntimeOptions): Promise<RuntimeHandle> {
  const clock = opts.clock ?? systemClock;
  const t0 = clock.monotonic();
  let nominal: RuntimeConfig;
  let restored: { error: string; field?: string; brokenCopy: string } | undefined;
  if (opts.configFile) {
    const loaded = loadRuntimeConfig(resolve(opts.configFile), clock.now());
    nominal = loaded.config;
    restored = loaded.restored;
  } else if (opts.config) {
    nominal = parseRuntimeConfig(opts.config, 'config');
  } else {
    throw new ConfigError('startRuntime needs configFile or config: the runtime never starts on defaults');
  }
  if (opts.overrides?.controlPort !== undefined || opts.overrides?.instanceId !== undefined) {
    nominal = parseRuntimeConfig(
      {
        ...nominal,
        runtime: {
          ...nominal.runtime,
          ...(opts.overrides.instanceId !== undefined ? { instanceId: opts.overrides.instanceId } : {}),
          control: { ...nominal.runtime.control, ...(opts.overrides.controlPort !== undefined ? { port: opts.overrides.controlPort } : {}) },
        },
      },
      'command line',
    );
  }
  const cfg = effectiveConfig(nominal);
  const rc = cfg.runtime;
  const log = (opts.logger ?? createLogger('runtime')).child({ instance: rc.instanceId });
  const events = new EventBus(clock, { instance: rc.instanceId });
  const random = opts.random ?? createRandom(cfg.seed);
  events.emit('runtime', 'runtime.starting', { pid: process.pid, timeScale: cfg.timeScale });
  if (restored) {
    events.emit('config', 'config.restored', { file: opts.configFile, error: restored.error, field: restored.field, brokenCopy: restored.brokenCopy });
    log.error({ field: restored.field, brokenCopy: restored.brokenCopy, err: restored.error }, 'config: file was invalid; restored from last-good backup');
  }
  const notifier = createNotifier(rc.notifier, log);
  if (restored) {
    void notifier.notify({ severity: 'warning', component: 'config', code: 'config.restored', message: `config ${opts.configFile} was invalid (${restored.field ?? 'syntax'}); restored from last-good backup`, data: restored });
  }

  let ready = false;
  let stopping: Promise<void> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const components: Record<string, unknown> = {};

  // Late-bound parts, so /health answers while recovery runs.
  let engine!: OrderEngine;
  let duck: DuckStore | undefined;
  let redis: RedisState | undefined;
  let ch: ClickhouseSync | undefined;
  let broker: BrokerGateway | undefined;
  let quotes: QuoteCache | undefined;
  let strategy: SeededStrategy | undefined;
  let reconciler: Periodic | undefined;
  let streamer: TickStreamer | undefined;
  let tickHistory: WorkerTickHistory | undefined;
  let tickHistoryOpening: Promise<WorkerTickHistory> | undefined;

  const control = new ControlServer({
    host: rc.control.host,
    port: rc.control.port,
    events,
    log,
    health: () => ({ instance: rc.instanceId, pid: process.pid, uptimeMs: Math.round(clock.monotonic() - t0) }),
    ready: () => ({ ready, instance: rc.instanceId, components: componentStates() }),
    state: ({ orders }) => ({
      instance: rc.instanceId,
      magic: rc.magic,
      session: redis?.sessionId ?? null,
      ready,
      components: componentStates(),
      counts: engine ? engine.counts() : {},
      orders: orders && engine ? [...engine.orders.values()] : undefined,
      positions: engine ? [...engine.positions.values()] : [],
      deals: engine ? engine.deals.size : 0,
    }),
    submit: (o) => {
      if (!engine || !ready) return Promise.reject(Object.assign(new Error('runtime not ready'), { status: 503 }));
      return engine.submit(o);
    },
    shutdown: () => {
      void stop().then(() => opts.onShutdown?.());
    },
  });

  function componentStates(): Record<string, unknown> {
    return {
      ...components,
      broker: broker?.status ?? 'starting',
      duckdb: duck ? { status: 'up', openedFrom: duck.openedFrom, lastBackup: duck.lastBackup } : 'starting',
      redis: redis ? { status: redis.status, backlog: redis.backlog, session: redis.sessionId, recreatedClients: redis.recreated } : 'disabled',
      clickhouse: ch ? { status: ch.status, ...ch.backlog() } : 'disabled',
      quotes: quotes ? (quotes.connected ? 'up' : 'down') : 'disabled',
      stream: streamer ? streamStatus(streamer) : rc.stream ? 'starting' : 'disabled',
    };
  }

  /** A worker thread with its own file: DuckDB flushes (ms each) stay off the thread that forwards ticks. */
  async function openTickHistory(stream: NonNullable<RuntimeConfig['runtime']['stream']>): Promise<WorkerTickHistory> {
    const { WorkerTickHistory, tickHistoryPath } = await import('./stream/history-thread.ts');
    return WorkerTickHistory.open({
      path: tickHistoryPath(rc.dataDir, rc.instanceId, stream.history.file),
      table: stream.history.table,
      ...(rc.clickhouse
        ? {
            clickhouse: {
              url: rc.clickhouse.url,
              database: cfg.clickhouse.database,
              instanceId: rc.instanceId,
              // ClickHouse advises about one insert per second (a plumbing constant, like the order sync's window).
              intervalMs: 1000,
              retryIntervalMs: cfg.clickhouse.retryIntervalMs,
              maxRetryAttempts: cfg.clickhouse.maxRetryAttempts,
              drainIntervalMs: cfg.clickhouse.failedSyncRetryMs,
              healthProbeIntervalMs: cfg.clickhouse.healthProbeIntervalMs,
            },
            onEvent: (e: TickSyncEvent) => {
              events.emit('clickhouse', e.type, e.data);
              if (e.type === 'tick_sync.parked') log.warn({ ...e.data }, 'clickhouse: tick sync parked; the ticks wait in the history file');
            },
          }
        : {}),
      onError: (f) => {
        events.emit('tick', 'tick.history_failed', { ...f });
        log.error({ kind: f.kind, rowsLost: f.rowsLost, err: f.message }, 'tick history: %s', f.message);
      },
    });
  }

  async function stop(): Promise<void> {
    if (!stopping) {
      stopping = (async () => {
        ready = false;
        events.emit('runtime', 'runtime.stopping', {});
        strategy?.stop();
        await quotes?.stop().catch(() => {});
        await streamer?.stop().catch(() => {});
        // The history worker flushes its last rows into its own file and ends (failures go through onError).
        await (tickHistory ?? (await tickHistoryOpening?.catch(() => undefined)))?.close().catch(() => {});
        await reconciler?.stop();
        await engine?.stop();
        await redis?.stop().catch(() => {});
        await ch?.stop().catch(() => {});
        await broker?.stop().catch(() => {});
        await duck?.stop().catch(() => {});
        events.emit('runtime', 'runtime.stopped', {});
        await control.stop();
        resolveDone();
      })();
    }
    return stopping;
  }

  await control.start();
  // The history worker loads DuckDB in a thread of its own (~150 ms): started first, it opens beside the order store.
  tickHistoryOpening = rc.stream ? openTickHistory(rc.stream) : undefined;
  tickHistoryOpening?.catch(() => undefined);
  try {
    duck = await DuckStore.open({
      path: join(resolve(rc.dataDir), `${rc.instanceId}.duckdb`),
      clock,
      events,
      log,
      walLimitBytes: cfg.duckdb.walLimitBytes,
      backupIntervalMs: cfg.duckdb.backupIntervalMs,
      lockRetryMs: cfg.duckdb.lockRetryMs,
      lockMaxAttempts: cfg.duckdb.lockMaxAttempts,
    });
    broker = new BrokerGateway({
      host: rc.broker.host,
      port: rc.broker.port,
      backups: rc.brokerFailover.backups,
      failoverAfterFailures: rc.brokerFailover.afterFailures,
      clock,
      events,
      log,
      probeIntervalMs: cfg.trade.brokerProbeIntervalMs,
      // Orders whose answer was lost on the old access point are reconciled on the new one at once.
      onSwitch: () => void reconciler?.trigger(),
      // Likewise when the broker comes back: an order whose answer the outage lost is resolved now,
      // not at the next period (measured: one order in 100 confirmed ~900 ms after the broker was back).
      onUp: () => void reconciler?.trigger(),
    });
    const mirrors: StateMirror[] = [];
    if (rc.redis) {
      redis = new RedisState({
        sentinels: rc.redis.sentinels,
        masterName: cfg.redis.masterName,
        ...(rc.redis.natMap ? { natMap: rc.redis.natMap } : {}),
        instanceId: rc.instanceId,
        clock,
        random: random.fork('redis'),
        events,
        log,
        retryMs: cfg.trade.redisRetryMs,
        fallbackThreshold: cfg.trade.redisFallbackThreshold,
        sessionReconnectMs: cfg.session.reconnectIntervalMs,
        sessionMaxAttempts: cfg.session.maxRecoveryAttempts,
        heartbeatMs: rc.heartbeatMs,
        snapshot: async () => engine.snapshot(),
        // Rows Redis has that DuckDB lost come back before Redis is rewritten from us.
        mergeBeforeFirstResync: async (rows) => {
          const n = await engine.mergeOrders(rows);
          if (n > 0) events.emit('duckdb', 'duckdb.rebuilt', { from: 'redis', orders: n });
        },
        onFallback: () => {
          // DuckDB stays the local truth; ClickHouse is the shared state to read while Redis is gone.
          void ch?.readOrders().then(async (rows) => {
            const merged = rows ? await engine.mergeOrders(rows) : 0;
            events.emit('redis', 'state.read_from_clickhouse', { ok: rows !== undefined, orders: rows?.length ?? 0, merged });
          });
        },
      });
      mirrors.push(redis);
    }
    if (rc.clickhouse) {
      ch = new ClickhouseSync({
        url: rc.clickhouse.url,
        database: cfg.clickhouse.database,
        instanceId: rc.instanceId,
        clock,
        events,
        log,
        duck,
        retryIntervalMs: cfg.clickhouse.retryIntervalMs,
        maxRetryAttempts: cfg.clickhouse.maxRetryAttempts,
        failedSyncRetryMs: cfg.clickhouse.failedSyncRetryMs,
        healthProbeIntervalMs: cfg.clickhouse.healthProbeIntervalMs,
        // One insert per table per second, as ClickHouse advises, but never more than a quarter of
        // the (scaled) max sync delay: a compressed run must still meet that goal.
        batchWindowMs: Math.min(1000, cfg.trade.maxClickhouseSyncDelayMs / 4),
      });
      mirrors.push(ch);
    }
    if (rc.stream) {
      // Loaded only when configured: the warm standby imports this module, and most runtimes do not stream.
      const { startTickStreamer } = await import('./stream/streamer.ts');
      tickHistory = await tickHistoryOpening!;
      streamer = startTickStreamer({
        clock,
        random: random.fork('stream'),
        // The streamer applies timeScale itself.
        config: nominal,
        events,
        notifier,
        history: tickHistory,
        target: { host: rc.stream.host, udpPort: rc.stream.udpPort, tcpPort: rc.stream.tcpPort },
        streamId: rc.stream.streamId ?? rc.instanceId,
        maxHistoryTicks: rc.stream.history.maxTicks,
      });
      await streamer.ready;
    }
    if (rc.feed) {
      quotes = new QuoteCache({ host: rc.feed.host, port: rc.feed.port, clock, events, log, reconnectMs: cfg.tick.reconnectIntervalMs }).start();
      if (streamer) {
        const s = streamer;
        quotes.onTick((t) => {
          if (!stopping) s.publish(t);
        });
      }
    }
    engine = new OrderEngine({
      clock,
      events,
      log,
      notifier,
      broker,
      duck,
      mirrors,
      instanceId: rc.instanceId,
      magic: rc.magic,
      backoffMs: cfg.trade.backoffMs,
      maxAttempts: cfg.trade.maxAttempts,
      failedSyncRetryMs: cfg.trade.failedSyncRetryMs,
      failedSyncMaxAttempts: cfg.trade.failedSyncMaxAttempts,
      orderTimeoutMs: cfg.trade.orderTimeoutMs,
      unknownGraceMs: rc.unknownGraceMs,
      maxRequotes: rc.maxRequotes,
      ...(quotes ? { quote: (s: string) => quotes!.quote(s) } : {}),
    });
    await engine.load();
    redis?.start();
    await ch?.start();

    // Rows DuckDB may have lost (truncated WAL, fresh file) come back from Redis (its first resync
    // merges them, see mergeBeforeFirstResync), then ClickHouse.
    await redis?.firstResync(duck.needsRebuild ? 2000 : 300);
    if (ch && duck.needsRebuild) {
      const rows = await ch.readOrders();
      if (rows) {
        const n = await engine.mergeOrders(rows);
        if (n > 0) events.emit('duckdb', 'duckdb.rebuilt', { from: 'clickhouse', orders: n });
      }
    }
    // ClickHouse may have missed rows a crash left in memory: replay all (idempotent by rev).
    if (ch) {
      const snap = engine.snapshot();
      for (const r of snap.orders) ch.putOrder(r);
      for (const r of snap.positions) ch.putPosition(r);
    }
    duck.startBackups();

    // Start-up reconciliation: the broker is the truth. Ready only once it succeeded.
    let lastReconcileAt = 0;
    let reconcileFailing = false;
    const reconcileTask = async () => {
      const startup = !ready;
      // Periodic passes look back over the last pass plus a margin for late deals, not the whole history:
      // parsing every deal each second would stall the event loop (measured: ~60 ms pauses at 10k deals).
      const since = startup ? undefined : Math.max(0, lastReconcileAt - Math.max(2000, 2 * rc.reconcileIntervalMs));
      const startedAt = clock.now();
      const r = await engine.reconcile({ startup, ...(since ? { sinceMsc: since } : {}) });
      lastReconcileAt = startedAt;
      if (reconcileFailing) log.info('reconcile: broker reachable again');
      reconcileFailing = false;
      delete components.reconcile;
      if (startup) {
        ready = true;
        const ms = Math.round(clock.monotonic() - t0);
        events.emit('runtime', 'runtime.ready', { ms, ...r, duckdb: duck!.openedFrom });
        log.info({ ms, ...r }, 'runtime: ready');
      }
    };
    reconciler = new Periodic(clock, rc.reconcileIntervalMs, reconcileTask, (e) => {
      components.reconcile = { error: (e as Error).message };
      // One line per outage, not one per period.
      if (!reconcileFailing) log.warn({ err: (e as Error).message }, 'reconcile: broker not reachable; will retry');
      reconcileFailing = true;
    }).start();
    await reconciler.trigger();

    if (quotes && rc.strategy.enabled) {
      for (const s of rc.strategy.symbols) void engine.warmSpec(s);
      strategy = new SeededStrategy({
        clock,
        random: random.fork('strategy'),
        engine,
        symbols: rc.strategy.symbols,
        ordersPerSecond: rc.strategy.ordersPerSecond,
        ...(rc.strategy.volume !== undefined ? { volume: rc.strategy.volume } : {}),
        maxOrders: rc.strategy.maxOrders,
        deviation: rc.strategy.deviation,
        minVolume: (s) => engine.cachedSpec(s)?.volume_min ?? 0.01,
      });
      quotes.onTick((t) => {
        if (ready) strategy!.onTick(t);
      });
    }
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }

  return {
    get url() {
      return control.url;
    },
    events,
    get engine() {
      return engine;
    },
    config: cfg,
    get duck() {
      return duck!;
    },
    get redis() {
      return redis;
    },
    get clickhouse() {
      return ch;
    },
    get streamer() {
      return streamer;
    },
    isReady: () => ready,
    done,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Process entry: `node runtime/main.ts --config FILE` (or compiled JS). Prints its endpoints as one JSON line. */
export async function runtimeMain(argv: string[]): Promise<number> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const file = flag('--config');
  if (!file) {
    process.stderr.write('usage: runtime --config FILE [--port N] [--instance ID]\n');
    return 2;
  }
  const overrides: { controlPort?: number; instanceId?: string } = {};
  const port = flag('--port');
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      process.stderr.write(`ea-chaos runtime: --port must be an integer 0..65535, got "${port}"\n`);
      return 2;
    }
    overrides.controlPort = n;
  }
  const instance = flag('--instance');
  if (instance !== undefined) overrides.instanceId = instance;
  let handle: RuntimeHandle;
  try {
    handle = await startRuntime({ configFile: file, overrides });
  } catch (e) {
    process.stderr.write(`ea-chaos runtime: ${(e as Error).message}${e instanceof EaChaosError ? ` [${e.code}]` : ''}\n`);
    return e instanceof ConfigError ? 2 : 1;
  }
  process.stdout.write(`${JSON.stringify({ control: handle.url, pid: process.pid, instance: handle.config.runtime.instanceId })}\n`);
  const onSignal = () => void handle.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await handle.done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runtimeMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`ea-chaos runtime: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
