import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, parseConfig } from '../core/config/index.ts';
import { EaChaosError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { requireBinary } from './binaries.ts';
import { clickhouseConfig, clickhousePing, clickhouseVersion } from './clickhouse.ts';
import { freeServicePorts } from './ports.ts';
import { findLabProcesses, isAlive, isOurs, pidDir, readPidRecords, removePidRecord, signal, spawnService, stopProcess, type PidRecord } from './process.ts';
import {
  applySentinelTimers,
  redisConf,
  redisPing,
  redisVersion,
  replicaSynced,
  sentinelConf,
  sentinelId,
  currentMaster,
  sentinelReady,
  sentinelReplicas,
  writeFileIn,
  checkAof,
  redisRefusedAof,
  restoreFromRdb,
  restoreMissingAof,
  type AofRestore,
} from './redis.ts';
import { readState, stateFile, writeState, type LabState, type ServiceSpec } from './state.ts';
import type { Endpoint, LabInfo } from './types.ts';

const HOST = '127.0.0.1';
const CLI = fileURLToPath(new URL('../bin/ea-chaos.js', import.meta.url));

async function httpOk(url: string): Promise<true | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(500) });
  await res.arrayBuffer();
  return res.ok ? true : undefined;
}

function tcpAccepts(host: string, port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (v: true | undefined) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(500, () => done(undefined));
    s.once('connect', () => done(true));
    s.once('error', () => done(undefined));
  });
}

/**
 * The fault proxy and the simulators are ea-chaos's own Node servers. They run as
 * detached `ea-chaos` processes so that `lab up` can return and leave them serving,
 * like the Debian services.
 */
async function startNodeServices(
  dir: string,
  config: Config,
  info: LabInfo,
  services: Record<string, ServiceSpec>,
  timeoutMs: number,
  options: LocalLabOptions,
): Promise<void> {
  const [apiPort, brokerPort, adminPort, feedPort] = (await freeServicePorts(4, HOST)) as [number, number, number, number];
  const specs: ServiceSpec[] = [];
  if (options.proxy) {
    const sdir = join(dir, 'proxy');
    mkdirSync(sdir, { recursive: true });
    const args = [CLI, 'proxy', '--host', HOST, '--port', String(apiPort), '--seed', String(config.seed)];
    specs.push({
      service: 'proxy',
      command: process.execPath,
      args,
      cwd: sdir,
      logFile: join(sdir, 'proxy.log'),
      marker: `proxy --host ${HOST} --port ${apiPort}`,
      readiness: { kind: 'http-ok', url: `http://${HOST}:${apiPort}/version` },
    });
    info.proxy = { api: `http://${HOST}:${apiPort}` };
  }
  if (options.simulator) {
    const sdir = join(dir, 'simulator');
    mkdirSync(sdir, { recursive: true });
    const args = [CLI, 'simulate', 'all', '--json', '--host', HOST, '--port', String(brokerPort), '--admin-port', String(adminPort), '--feed-port', String(feedPort), '--seed', String(config.seed)];
    specs.push({
      service: 'simulator',
      command: process.execPath,
      args,
      cwd: sdir,
      logFile: join(sdir, 'simulator.log'),
      marker: `simulate all --json --host ${HOST} --port ${brokerPort}`,
      readiness: { kind: 'http-ok', url: `http://${HOST}:${adminPort}/health` },
    });
    info.broker = { host: HOST, port: brokerPort, admin: `http://${HOST}:${adminPort}` };
    info.feed = { host: HOST, port: feedPort };
  }
  const started = specs.map((spec) => {
    services[spec.service] = spec;
    const rec = spawnService(dir, spec, spec.marker);
    info.pids[spec.service] = rec.pid;
    return { spec, rec };
  });
  await Promise.all(started.map(({ spec, rec }) => waitReady(spec, rec.pid, timeoutMs)));
  if (options.simulator) await waitReady({ ...specs.at(-1)!, readiness: { kind: 'tcp', host: HOST, port: feedPort } }, info.pids.simulator!, timeoutMs);
}

export class LabAlreadyUpError extends EaChaosError {
  constructor(readonly info: LabInfo) {
    super('E_LAB_ALREADY_UP', `lab in ${info.dir} is already up (lab status to see it, lab down to stop it)`);
  }
}

export interface LocalLabOptions {
  dir?: string;
  config?: Config;
  /** Readiness deadline for the whole lab. */
  timeoutMs?: number;
  /** Also run the embedded fault proxy (`ea-chaos proxy`) as a lab service. */
  proxy?: boolean;
  /** Also run the simulated broker and feed (`ea-chaos simulate all`) as a lab service. */
  simulator?: boolean;
  /**
   * Called after the core services are ready and before lab.json is written,
   * so later layers (fault proxy, simulators) can add their own services.
   */
  extend?: (ctx: LabExtendContext) => Promise<void>;
}

export interface LabExtendContext {
  dir: string;
  config: Config;
  info: LabInfo;
  /** Spawn a service the lab will track, stop and restart like its own. */
  addService(name: string, spec: Omit<ServiceSpec, 'service'>): Promise<void>;
}

function diedOfPortRace(e: unknown): boolean {
  if (!(e instanceof EaChaosError) || e.code !== 'E_SERVICE_DIED') return false;
  const log = e.details?.logFile;
  if (typeof log !== 'string') return false;
  try {
    return /address already in use|EADDRINUSE|could not create server tcp listening socket/i.test(readFileSync(log, 'utf8').slice(-4000));
  } catch {
    return false;
  }
}

/** Is the lab in `dir` up, with every recorded process alive? */
export function labIsUp(dir: string): LabState | undefined {
  const state = readState(resolve(dir));
  if (!state) return undefined;
  const recs = Object.entries(state.services).map(([service, s]) => ({ service, pid: state.info.pids[service] ?? -1, marker: s.marker }));
  return recs.length > 0 && recs.every(isOurs) ? state : undefined;
}

/**
 * Kill whatever a previous, possibly half-finished, lab in `dir` left running.
 * Pidfiles are written the moment a process is spawned, so this finds even
 * processes of an `up` that was killed before lab.json existed.
 */
export async function reapStale(dir: string): Promise<number> {
  const recs = readPidRecords(dir);
  let stopped = 0;
  await Promise.all(
    recs.map(async (r) => {
      if (isOurs(r)) {
        await stopProcess(r, 1000);
        stopped++;
      }
      removePidRecord(dir, r.service);
    }),
  );
  // Processes whose pidfile was never written (an `up` killed right after spawn()).
  const orphans = findLabProcesses(dir);
  await Promise.all(orphans.map((r) => stopProcess(r, 1000)));
  rmSync(stateFile(dir), { force: true });
  return stopped + orphans.length;
}

async function waitReady(spec: ServiceSpec, pid: number, deadlineMs: number): Promise<void> {
  const r = spec.readiness;
  await waitFor(
    async () => {
      if (!isAlive(pid)) {
        throw new EaChaosError('E_SERVICE_DIED', `${spec.service} exited during start-up; see ${spec.logFile}`, { details: { service: spec.service, logFile: spec.logFile } });
      }
      switch (r.kind) {
        case 'redis':
          return redisPing(r);
        case 'replica':
          return replicaSynced(r);
        case 'sentinel':
          if (r.timers) await applySentinelTimers(r, r.timers);
          return sentinelReady(r, r.masterName, r.peers);
        case 'http':
          return clickhousePing(r.url);
        case 'http-ok':
          return httpOk(r.url);
        case 'tcp':
          return tcpAccepts(r.host, r.port);
        case 'none':
          return true;
      }
    },
    { what: spec.service, timeoutMs: deadlineMs, intervalMs: 15, isFatal: (e) => e instanceof EaChaosError && e.code === 'E_SERVICE_DIED' },
  ).catch((e: unknown) => {
    if (e instanceof EaChaosError && e.code === 'E_SERVICE_DIED') throw e;
    // A service that died is a hard failure: stop waiting on the others' behalf.
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof EaChaosError && cause.code === 'E_SERVICE_DIED') throw cause;
    throw e;
  });
}

/**
 * Spawn one service and wait until it is ready. A Redis node whose AOF Redis refuses (and
 * redis-check-aof confirms corrupt) is restored from its last RDB snapshot and started again,
 * and a missing AOF is rebuilt from the snapshot (seed §3.3 steps 4-5; lab/redis.ts). The same
 * path serves a restart of one service and a lab started over an existing directory.
 */
async function launchService(
  dir: string,
  spec: ServiceSpec,
  timeoutMs: number,
  restart: boolean,
  onSpawn: (pid: number) => void,
): Promise<AofRestore | undefined> {
  let readiness = spec.readiness;
  const isRedis = readiness.kind === 'redis' || readiness.kind === 'replica';
  // A restarted former master comes back as a replica once Sentinel reconfigures it; PING is enough.
  if (restart && readiness.kind === 'replica') readiness = { kind: 'redis', host: readiness.host, port: readiness.port };
  const appendonly = isRedis && /^appendonly yes$/m.test(readFileSync(spec.args[0]!, 'utf8'));
  let restored = isRedis ? restoreMissingAof(spec.cwd, Date.now(), appendonly) : undefined;
  const launch = async () => {
    const logFrom = existsSync(spec.logFile) ? statSync(spec.logFile).size : 0;
    const fresh = spawnService(dir, spec, spec.marker);
    onSpawn(fresh.pid);
    try {
      await waitReady({ ...spec, readiness }, fresh.pid, timeoutMs);
      return undefined;
    } catch (e) {
      if (!isRedis || !(e instanceof EaChaosError) || e.code !== 'E_SERVICE_DIED') throw e;
      const log = readFileSync(spec.logFile, 'utf8').slice(logFrom);
      if (!redisRefusedAof(log)) throw e;
      return e;
    }
  };
  const refused = await launch();
  if (refused) {
    // Redis's own verdict first (a torn tail is loaded, not refused), then redis-check-aof's.
    const check = await checkAof(spec.cwd);
    if (check.ok === true) throw refused;
    restored = restoreFromRdb(spec.cwd, Date.now(), 'corrupt-aof', check.output);
    const again = await launch();
    if (again) throw again;
  }
  return restored;
}

/**
 * A lab of real services as local processes: Redis master + replica (AOF
 * everysec, daily RDB), 3 Sentinels (quorum 2) and clickhouse-server.
 */
export class LocalLab implements AsyncDisposable {
  private stopped = false;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    private state: LabState,
  ) {}

  get info(): LabInfo {
    return this.state.info;
  }

  /**
   * Start the lab. Ports are chosen free but released before the service binds
   * them, so another process can take one in between; a service that died of
   * that ("Address already in use") is retried with fresh ports, at most 3 times.
   */
  static async start(options: LocalLabOptions = {}): Promise<LocalLab> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await LocalLab.startOnce(options);
      } catch (e) {
        if (attempt >= 3 || !diedOfPortRace(e)) throw e;
      }
    }
  }

  private static async startOnce(options: LocalLabOptions): Promise<LocalLab> {
    const config = options.config ?? parseConfig({});
    const dir = resolve(options.dir ?? config.lab.dir);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const binaries = {
      redis: requireBinary('redis-server'),
      sentinel: requireBinary('redis-sentinel'),
      clickhouse: requireBinary('clickhouse-server'),
    };
    mkdirSync(pidDir(dir), { recursive: true });
    const up = labIsUp(dir);
    if (up) throw new LabAlreadyUpError(up.info);
    await reapStale(dir);

    const [mPort, rPort, s1, s2, s3, chHttp, chTcp] = (await freeServicePorts(7, HOST)) as [number, number, number, number, number, number, number];
    const rc = config.redis;
    const master: Endpoint = { host: HOST, port: mPort };
    const replica: Endpoint = { host: HOST, port: rPort };
    const sentinels: Endpoint[] = [s1, s2, s3].map((port) => ({ host: HOST, port }));
    const layout = { master, replica, sentinels, masterName: rc.masterName };
    const ids = sentinels.map(() => sentinelId());

    const services: Record<string, ServiceSpec> = {};
    const redisSpec = (name: string, ep: Endpoint, replicaOf?: Endpoint): ServiceSpec => {
      const sdir = join(dir, name);
      // {config-file} in the process title lets `lab down` recognise the process by pid safely.
      const conf = writeFileIn(sdir, 'redis.conf', `${redisConf(sdir, ep.port, rc, replicaOf)}proc-title-template "{title} {listen-addr} {server-mode} {config-file}"\n`);
      return {
        service: name,
        command: binaries.redis,
        args: [conf],
        cwd: sdir,
        logFile: join(sdir, 'redis.log'),
        marker: conf,
        readiness: replicaOf ? { kind: 'replica', ...ep } : { kind: 'redis', ...ep },
      };
    };
    services['redis-master'] = redisSpec('redis-master', master);
    services['redis-replica'] = redisSpec('redis-replica', replica, master);
    sentinels.forEach((ep, i) => {
      const name = `sentinel-${i + 1}`;
      const sdir = join(dir, name);
      const peers = sentinels.map((p, j) => ({ endpoint: p, id: ids[j]! })).filter((_, j) => j !== i);
      const conf = writeFileIn(
        sdir,
        'sentinel.conf',
        `${sentinelConf(sdir, ep, ids[i]!, peers, layout, rc)}proc-title-template "{title} {listen-addr} {server-mode} {config-file}"\n`,
      );
      services[name] = {
        service: name,
        command: binaries.sentinel,
        args: [conf],
        cwd: sdir,
        logFile: join(sdir, 'sentinel.log'),
        marker: conf,
        readiness: { kind: 'sentinel', ...ep, masterName: rc.masterName, peers: sentinels.length - 1, timers: rc.sentinelTimers },
      };
    });
    const chDir = join(dir, 'clickhouse');
    mkdirSync(chDir, { recursive: true });
    const { configPath } = clickhouseConfig(chDir, chHttp, chTcp);
    const chUrl = `http://${HOST}:${chHttp}`;
    services.clickhouse = {
      service: 'clickhouse',
      command: binaries.clickhouse,
      args: [`--config-file=${configPath}`],
      cwd: chDir,
      logFile: join(chDir, 'stdout.log'),
      marker: configPath,
      readiness: { kind: 'http', url: chUrl },
      // 18.16 idles ~3 s after SIGTERM before exiting; its parts are written atomically,
      // so a short grace then SIGKILL loses nothing that was acknowledged.
      graceMs: 1000,
    };

    const info: LabInfo = {
      provider: 'local',
      dir,
      sentinelMasterName: rc.masterName,
      redis: { master, replicas: [replica] },
      sentinels,
      clickhouse: { url: chUrl },
      pids: {},
      versions: {},
      startedAt: new Date().toISOString(),
    };
    const lab = new LocalLab(dir, { info, services });
    try {
      // Over an existing directory (a lab brought down without --clean), Redis reloads its AOF:
      // the same recovery as a restart applies, and the lab's info says what was restored.
      const restores = await Promise.all(
        Object.values(services).map(async (spec) => {
          const r = await launchService(dir, spec, timeoutMs, false, (pid) => (info.pids[spec.service] = pid));
          return r ? { service: spec.service, ...r } : undefined;
        }),
      );
      const aofRestored = restores.filter((r) => r !== undefined);
      if (aofRestored.length > 0) info.aofRestored = aofRestored;
      const [rv, cv] = await Promise.all([redisVersion(master), clickhouseVersion(chUrl)]);
      info.versions = { redis: rv, clickhouse: cv };
      if (options.proxy || options.simulator) await startNodeServices(dir, config, info, services, timeoutMs, options);
      if (options.extend) {
        await options.extend({
          dir,
          config,
          info,
          addService: async (name, spec) => {
            const full: ServiceSpec = { ...spec, service: name };
            services[name] = full;
            const rec = spawnService(dir, full, full.marker);
            info.pids[name] = rec.pid;
            await waitReady(full, rec.pid, timeoutMs);
          },
        });
      }
      writeState(dir, lab.state);
      return lab;
    } catch (e) {
      await lab.stop().catch(() => {});
      throw e;
    }
  }

  /** Re-attach to a lab started by another process (e.g. `lab up`). */
  static attach(dir: string): LocalLab | undefined {
    const state = readState(resolve(dir));
    return state ? new LocalLab(resolve(dir), state) : undefined;
  }

  private record(service: string): PidRecord {
    const spec = this.state.services[service];
    if (!spec) throw new EaChaosError('E_UNKNOWN_SERVICE', `no service named ${service} in this lab (have: ${Object.keys(this.state.services).join(', ')})`);
    return { service, pid: this.state.info.pids[service] ?? -1, marker: spec.marker };
  }

  /** Fault injection: send `sig` (default SIGKILL) to a service and wait for it to die. */
  async kill(service: string, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const rec = this.record(service);
    if (!isOurs(rec)) return;
    signal(rec.pid, sig);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') {
      await waitFor(() => !isAlive(rec.pid) || undefined, { what: `${service} exit`, timeoutMs: 10_000, intervalMs: 5 });
    }
  }

  /** A hung process (SIGSTOP): alive, holding its sockets, answering nothing. */
  pause(service: string): void {
    const rec = this.record(service);
    if (isOurs(rec)) signal(rec.pid, 'SIGSTOP');
  }

  resume(service: string): void {
    const rec = this.record(service);
    if (isOurs(rec)) signal(rec.pid, 'SIGCONT');
  }

  /**
   * Start a stopped service again with the same ports and data, and wait until it is ready.
   * A Redis node whose AOF Redis refuses (and redis-check-aof confirms corrupt) is restored
   * from its last RDB snapshot (seed §3.3 step 5; lab/redis.ts): the answer says so.
   */
  async start(service: string, timeoutMs = 30_000): Promise<AofRestore | undefined> {
    const rec = this.record(service);
    if (isOurs(rec)) return undefined;
    const spec = this.state.services[service]!;
    return launchService(this.dir, spec, timeoutMs, true, (pid) => {
      this.state.info.pids[service] = pid;
      writeState(this.dir, this.state);
    });
  }

  isRunning(service: string): boolean {
    return isOurs(this.record(service));
  }

  /** Current topology, asking the Sentinels who the master is now. */
  async status(): Promise<LabInfo> {
    const info = structuredClone(this.state.info);
    const cur = await currentMaster(info.sentinels, info.sentinelMasterName);
    if (cur) {
      info.redis.master = cur.master;
      info.redis.replicas = await sentinelReplicas(cur.sentinel, info.sentinelMasterName).catch(() => []);
    }
    return info;
  }

  /** Stop every process the lab started, by pid. Idempotent. `clean` also deletes the data. */
  stop(opts: { clean?: boolean } = {}): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const recs = Object.keys(this.state.services).map((s) => this.record(s));
        // SIGCONT first: a paused process cannot handle SIGTERM.
        for (const r of recs) if (isOurs(r)) signal(r.pid, 'SIGCONT');
        await Promise.all(recs.map((r) => stopProcess(r, this.state.services[r.service]?.graceMs)));
        await reapStale(this.dir);
        this.stopped = true;
      })();
    }
    return this.stopping.then(() => {
      if (opts.clean) rmSync(this.dir, { recursive: true, force: true });
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
