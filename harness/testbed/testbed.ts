import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { systemClock } from '../../core/clock.ts';
import type { Config } from '../../core/config/index.ts';
import { EaChaosError } from '../../core/errors.ts';
import { EventBus, type Alert, type Notifier } from '../../core/events.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { waitFor } from '../../core/wait.ts';
import { FaultClient, resolveToxiproxyUrl } from '../../faultproxy/client.ts';
import { LocalLab, reapStale, type Endpoint } from '../../lab/index.ts';
import { compiledEntry, RUNTIME_ENTRY, WARM_ENTRY } from '../../runtime/supervisor/build.ts';
import { startSupervisor, type Supervisor } from '../../runtime/supervisor/supervisor.ts';
import { startConsumer, type Consumer } from '../../simulator/consumer/index.ts';
import { EventCollector, type CollectedEvent } from './event-collector.ts';
import { FaultLog } from './fault-log.ts';

/**
 * Everything one scenario runs against, owned by the cucumber World: the lab
 * (Redis + Sentinels + ClickHouse + fault proxy + simulators as real processes),
 * the fault proxy routes each runtime talks through, the supervised runtimes,
 * their event streams and the fault log. One `stop()` releases all of it.
 */
export interface TestbedOptions {
  dir: string;
  config: Config;
  instances?: number;
  /** Orders per second the seeded strategy places per instance (0: no workload). */
  ordersPerSecond?: number;
  /** Start a tick consumer and have instance 0 stream to it through `tick-udp` and `tick-tcp` (default true). */
  stream?: boolean;
  /** Give runtimes the `broker-backup` route as their backup access point (runtime.brokerFailover). */
  brokerBackup?: boolean;
  logger?: Logger;
}

export interface Route {
  name: string;
  listen: Endpoint;
  upstream: Endpoint;
}

/** Alerts the supervisor raised (instance gave up), kept for the checkers. */
class RecordingNotifier implements Notifier {
  readonly alerts: (Alert & { at: number })[] = [];
  async notify(alert: Alert): Promise<void> {
    this.alerts.push({ ...alert, at: Date.now() });
  }
}

/** Receives the runtimes' webhook alerts, so a step can see what the user was told. */
async function startAlertSink(into: (Alert & { at: number })[]): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      try {
        into.push({ ...(JSON.parse(body) as Alert), at: Date.now() });
      } catch {
        /* not an alert: ignored */
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/alerts`, server };
}

/** What the consumer saw on its path, as events the steps can wait for (one per path change, not per tick). */
function consumerEvents(bus: EventBus): (t: { via: string; epoch: number; seq: number }) => void {
  let lastVia = '';
  return (t) => {
    if (t.via === 'history' || t.via === lastVia) return;
    lastVia = t.via;
    bus.emit('tick', t.via === 'tcp' ? 'consumer.tcp_tick' : 'consumer.udp_tick', { epoch: t.epoch, seq: t.seq });
  };
}

function parseHostPort(s: string): Endpoint {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export class Testbed implements AsyncDisposable {
  readonly faultLog = new FaultLog();
  readonly supervisorEvents = new EventBus(systemClock);
  readonly alerts = new RecordingNotifier();
  readonly collectors: EventCollector[] = [];
  readonly routes: Record<string, Route> = {};
  /** Alerts the runtimes sent through their notifier (a webhook to the testbed). */
  readonly runtimeAlerts: (Alert & { at: number })[] = [];
  readonly consumerEvents = new EventBus(systemClock);
  /** The tick consumer instance 0 streams to, through the UDP relay `tick-udp` and the proxy route `tick-tcp`. */
  consumer: Consumer | undefined;
  /** The listen address of the UDP relay `tick-udp`. */
  tickUdp: Endpoint | undefined;
  supervisor: Supervisor | undefined;
  private alertSink: { url: string; server: Server } | undefined;
  private stopping: Promise<void> | undefined;
  /** Released first by stop(): things faults started that outlive a failed scenario. */
  private readonly onStops: (() => Promise<void>)[] = [];
  /** Whether runtimes get `broker-backup` as their backup access point. */
  brokerBackup = false;

  private constructor(
    readonly dir: string,
    readonly config: Config,
    readonly lab: LocalLab,
    readonly faults: FaultClient,
    readonly log: Logger,
  ) {}

  static async start(opts: TestbedOptions): Promise<Testbed> {
    const dir = resolve(opts.dir);
    // A testbed starts from nothing: Redis, ClickHouse and runtime data of an earlier run in
    // this dir would be restored into the new runtime against a new broker's empty ledger.
    await reapStale(join(dir, 'lab'));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const log = opts.logger ?? createLogger('testbed', process.env.EA_CHAOS_LOG_LEVEL ?? 'warn');
    const lab = await LocalLab.start({ dir: join(dir, 'lab'), config: opts.config, proxy: true, simulator: true });
    let bed: Testbed | undefined;
    try {
      const url = resolveToxiproxyUrl({ config: opts.config, embeddedUrl: lab.info.proxy!.api }).url;
      bed = new Testbed(dir, opts.config, lab, new FaultClient(url), log);
      bed.brokerBackup = opts.brokerBackup ?? false;
      bed.alertSink = await startAlertSink(bed.runtimeAlerts);
      if (opts.stream ?? true) await bed.startConsumer();
      await bed.createRoutes();
      if ((opts.instances ?? 1) > 0) await bed.startRuntimes(opts.instances ?? 1, opts.ordersPerSecond ?? 5);
      return bed;
    } catch (e) {
      if (bed) await bed.stop().catch(() => {});
      else await lab.stop().catch(() => {});
      throw e;
    }
  }

  /** Every path a runtime uses goes through the fault proxy, so the nemesis can cut or slow it. */
  private async createRoutes(): Promise<void> {
    const info = this.lab.info;
    const ch = new URL(info.clickhouse.url);
    const upstreams: Record<string, Endpoint> = {
      broker: { host: info.broker!.host, port: info.broker!.port },
      // A second access point to the same simulated broker, like an MT5 terminal's backup server.
      'broker-backup': { host: info.broker!.host, port: info.broker!.port },
      feed: { host: info.feed!.host, port: info.feed!.port },
      clickhouse: { host: ch.hostname, port: Number(ch.port) },
      'redis-master': info.redis.master,
      'redis-replica': info.redis.replicas[0]!,
    };
    for (const [name, up] of Object.entries(upstreams)) {
      const p = await this.faults.createProxy({ name, listen: '127.0.0.1:0', upstream: `${up.host}:${up.port}`, enabled: true });
      this.routes[name] = { name, listen: parseHostPort(p.listen), upstream: up };
    }
  }

  /**
   * The downstream end of the tick stream, in this process. Its ports sit behind
   * the fault proxy: UDP through a relay, TCP through a proxy route, so the
   * nemesis can blackhole either path.
   */
  private async startConsumer(): Promise<void> {
    this.consumer = startConsumer({ clock: systemClock, host: '127.0.0.1', udpPort: 0, tcpPort: 0, onTick: consumerEvents(this.consumerEvents) });
    const ports = await this.consumer.ready;
    const relay = await this.faults.createUdpRelay({ name: 'tick-udp', listen: '127.0.0.1:0', upstream: `127.0.0.1:${ports.udpPort}`, enabled: true });
    this.tickUdp = parseHostPort(relay.listen);
    const p = await this.faults.createProxy({ name: 'tick-tcp', listen: '127.0.0.1:0', upstream: `127.0.0.1:${ports.tcpPort}`, enabled: true });
    this.routes['tick-tcp'] = { name: 'tick-tcp', listen: parseHostPort(p.listen), upstream: { host: '127.0.0.1', port: ports.tcpPort } };
  }

  /** ioredis natMap: Sentinel hands out real addresses; the runtime must use the proxied ones. */
  natMap(): Record<string, Endpoint> {
    const out: Record<string, Endpoint> = {};
    for (const n of ['redis-master', 'redis-replica']) {
      const r = this.routes[n];
      if (r) out[`${r.upstream.host}:${r.upstream.port}`] = r.listen;
    }
    return out;
  }

  /** One magic per instance: no instance ever adopts or reconciles another's orders. */
  magicFor(index: number): number {
    return 7000 + index;
  }

  dataDir(index: number): string {
    return join(this.dir, 'runtime', `ea-${index}`);
  }

  /** Where runtime/main.ts keeps instance `id`'s DuckDB file. */
  duckdbFile(id: string): string {
    return join(this.dir, 'runtime', id, `${id}.duckdb`);
  }

  runtimeConfig(index: number, port: number, ordersPerSecond: number): Record<string, unknown> {
    const r = this.routes;
    const { lab: _lab, ...core } = this.config;
    return {
      ...core,
      runtime: {
        instanceId: `ea-${index}`,
        magic: this.magicFor(index),
        dataDir: this.dataDir(index),
        control: { host: '127.0.0.1', port },
        broker: r.broker!.listen,
        ...(this.brokerBackup && r['broker-backup'] ? { brokerFailover: { backups: [r['broker-backup'].listen] } } : {}),
        feed: r.feed!.listen,
        redis: { sentinels: this.lab.info.sentinels, natMap: this.natMap() },
        clickhouse: { url: `http://${r.clickhouse!.listen.host}:${r.clickhouse!.listen.port}` },
        notifier: this.alertSink ? { kind: 'webhook', url: this.alertSink.url } : { kind: 'log' },
        strategy: { enabled: ordersPerSecond > 0, ordersPerSecond, symbols: ['EURUSD'] },
        // One consumer: instance 0 streams to it (a second sender would share its sequence space).
        ...(index === 0 && this.tickUdp && r['tick-tcp'] ? { stream: { host: '127.0.0.1', udpPort: this.tickUdp.port, tcpPort: r['tick-tcp'].listen.port } } : {}),
      },
    };
  }

  private async startRuntimes(n: number, ordersPerSecond: number): Promise<void> {
    const js = await compiledEntry(RUNTIME_ENTRY);
    // A warm standby per instance (already loaded, started over IPC) is how the supervisor
    // meets the < 1 s restart goal: a cold start pays Node's start-up plus every import.
    const warmJs = process.env.EA_CHAOS_NO_WARM ? undefined : await compiledEntry(WARM_ENTRY);
    const cfgDir = join(this.dir, 'runtime');
    mkdirSync(cfgDir, { recursive: true });
    this.supervisor = startSupervisor({
      clock: systemClock,
      config: this.config,
      events: this.supervisorEvents,
      notifier: this.alerts,
      instances: n,
      stdio: process.env.EA_CHAOS_RUNTIME_STDIO === 'inherit' ? 'inherit' : 'ignore',
      child: (i, port) => {
        const file = join(cfgDir, `ea-${i}.json`);
        // Written once: a restart must find the file as the last run (or the nemesis) left it.
        if (!existsSync(file)) writeFileSync(file, JSON.stringify(this.runtimeConfig(i, port, ordersPerSecond), null, 2));
        const argv = ['--config', file, '--port', String(port), '--instance', `ea-${i}`];
        const readyUrl = `http://127.0.0.1:${port}/ready`;
        return warmJs ? { command: process.execPath, args: argv, warm: { args: [warmJs] }, readyUrl } : { command: process.execPath, args: [js, ...argv], readyUrl };
      },
    });
    await this.supervisor.ready;
    for (let i = 0; i < n; i++) {
      const c = new EventCollector(
        `ea-${i}`,
        () => {
          const s = this.supervisor?.status()[i];
          return s ? `http://127.0.0.1:${s.port}` : undefined;
        },
        () => this.supervisor?.status()[i]?.pid,
      ).start();
      this.collectors.push(c);
    }
    await Promise.all(Array.from({ length: n }, (_, i) => this.supervisor!.waitReady(i, { timeoutMs: 30_000 })));
  }

  runtimeUrl(index = 0): string {
    const s = this.supervisor?.status()[index];
    if (!s) throw new EaChaosError('E_USAGE', `no runtime instance ${index}`);
    return `http://127.0.0.1:${s.port}`;
  }

  /** Every runtime event seen so far, in arrival order, plus the supervisor's own. */
  events(): CollectedEvent[] {
    const sup = this.supervisorEvents.since(0).map((e) => ({ ...e, source: 'supervisor', receivedAt: e.ts }));
    const con = this.consumerEvents.since(0).map((e) => ({ ...e, source: 'consumer', receivedAt: e.ts }));
    return [...this.collectors.flatMap((c) => c.events), ...sup, ...con].sort((a, b) => a.ts - b.ts || a.seq - b.seq);
  }

  /** Wait for the first event matching `pred` with ts >= `after` (wall ms). */
  async waitForEvent(pred: (e: CollectedEvent) => boolean, opts: { after?: number; timeoutMs: number; what: string }): Promise<CollectedEvent> {
    const after = opts.after ?? 0;
    return waitFor(() => this.events().find((e) => e.ts >= after && pred(e)), { what: opts.what, timeoutMs: opts.timeoutMs, intervalMs: 5 });
  }

  async getJson<T>(url: string): Promise<T> {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new EaChaosError('E_HTTP', `GET ${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  postJson<T>(url: string, body: unknown): Promise<T> {
    return this.postJsonMethod<T>('POST', url, body);
  }

  async postJsonMethod<T>(method: string, url: string, body: unknown): Promise<T> {
    const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (!res.ok) throw new EaChaosError('E_HTTP', `${method} ${url}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  brokerAdmin(path: string): string {
    return `${this.lab.info.broker!.admin}${path}`;
  }

  /** Run `fn` when the testbed stops (before anything else is released); for a fault's own helpers. */
  onStop(fn: () => Promise<void>): void {
    this.onStops.push(fn);
  }

  /** Releases everything, on failure too; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const fn of this.onStops.splice(0)) await fn().catch((e: unknown) => this.log.warn({ err: e }, 'fault clean-up failed'));
      for (const c of this.collectors) c.stop();
      await this.supervisor?.stop().catch((e: unknown) => this.log.warn({ err: e }, 'supervisor stop failed'));
      await this.consumer?.stop().catch((e: unknown) => this.log.warn({ err: e }, 'consumer stop failed'));
      if (this.alertSink) {
        this.alertSink.server.closeAllConnections();
        await new Promise<void>((r) => this.alertSink!.server.close(() => r()));
      }
      await this.lab.stop();
    })();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
