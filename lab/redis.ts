import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../core/config/index.ts';
import { whichBinary } from './binaries.ts';
import { redisCommand, respPairs } from './resp.ts';
import type { Endpoint } from './types.ts';

export interface RedisLayout {
  master: Endpoint;
  replica: Endpoint;
  sentinels: Endpoint[];
  masterName: string;
}

/** redis.conf for the master or the replica: AOF everysec plus a daily RDB (seed §3.3). */
export function redisConf(dir: string, port: number, cfg: Config['redis'], replicaOf?: Endpoint): string {
  const lines = [
    'bind 127.0.0.1',
    `port ${port}`,
    'protected-mode no',
    'daemonize no',
    `dir ${dir}`,
    `pidfile ${join(dir, 'redis.pid')}`,
    'logfile ""',
    `appendonly ${cfg.appendonly ? 'yes' : 'no'}`,
    `appendfsync ${cfg.appendfsync}`,
    // "RDB snapshot frequency → Daily": one snapshot per day if anything changed.
    `save ${Math.max(1, Math.round(cfg.rdbSnapshotIntervalMs / 1000))} 1`,
    'replica-serve-stale-data yes',
    // A promoted replica must accept writes at once.
    'replica-read-only yes',
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    // Redis 7 otherwise waits up to 10 s on SIGTERM for lagging replicas; the AOF is still flushed.
    'shutdown-on-sigterm now',
  ];
  if (replicaOf) lines.push(`replicaof ${replicaOf.host} ${replicaOf.port}`);
  return `${lines.join('\n')}\n`;
}

/**
 * sentinel.conf with each Sentinel's id and its peers written in up front:
 * Sentinels otherwise discover each other through hello messages every 2 s,
 * and a master killed before discovery would not be failed over.
 */
export function sentinelConf(
  dir: string,
  self: Endpoint,
  selfId: string,
  peers: { endpoint: Endpoint; id: string }[],
  layout: RedisLayout,
  cfg: Config['redis'],
): string {
  const m = layout.masterName;
  const lines = [
    'bind 127.0.0.1',
    `port ${self.port}`,
    'protected-mode no',
    'daemonize no',
    `dir ${dir}`,
    'logfile ""',
    `sentinel myid ${selfId}`,
    `sentinel monitor ${m} ${layout.master.host} ${layout.master.port} ${cfg.sentinelQuorum}`,
    `sentinel down-after-milliseconds ${m} ${cfg.sentinelDownAfterMs}`,
    `sentinel failover-timeout ${m} ${cfg.sentinelFailoverTimeoutMs}`,
    `sentinel parallel-syncs ${m} 1`,
    `sentinel known-replica ${m} ${layout.replica.host} ${layout.replica.port}`,
    ...peers.map((p) => `sentinel known-sentinel ${m} ${p.endpoint.host} ${p.endpoint.port} ${p.id}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function sentinelId(): string {
  return randomBytes(20).toString('hex');
}

export function writeFileIn(dir: string, name: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** PONG from a Redis server. */
export async function redisPing(ep: Endpoint): Promise<true | undefined> {
  const r = await redisCommand(ep.host, ep.port, ['PING'], 500);
  return r === 'PONG' ? true : undefined;
}

/** The replica has finished its initial sync with the master. */
export async function replicaSynced(ep: Endpoint): Promise<true | undefined> {
  const r = await redisCommand(ep.host, ep.port, ['INFO', 'replication'], 500);
  return typeof r === 'string' && /master_link_status:up/.test(r) ? true : undefined;
}

/** The master address a Sentinel currently reports. */
export async function sentinelMaster(ep: Endpoint, masterName: string): Promise<Endpoint | undefined> {
  const r = await redisCommand(ep.host, ep.port, ['SENTINEL', 'get-master-addr-by-name', masterName], 500);
  if (!Array.isArray(r) || r.length !== 2) return undefined;
  return { host: String(r[0]), port: Number(r[1]) };
}

/**
 * The current master as the Sentinels agree on it: the answer with the highest
 * config epoch wins, because a Sentinel that did not lead the failover learns of
 * it only through hello messages, a moment later.
 */
export async function currentMaster(sentinels: Endpoint[], masterName: string): Promise<{ master: Endpoint; sentinel: Endpoint } | undefined> {
  const answers = await Promise.all(
    sentinels.map(async (s) => {
      try {
        // get-master-addr-by-name is what clients use: during a failover the leader already
        // answers with the promoted replica, while `SENTINEL master` still shows the old one.
        const [addr, m] = await Promise.all([sentinelMaster(s, masterName), redisCommand(s.host, s.port, ['SENTINEL', 'master', masterName], 500)]);
        if (!addr) return undefined;
        const pairs = respPairs(m);
        const leading = /failover_in_progress/.test(pairs.flags ?? '');
        return { master: addr, rank: Number(pairs['config-epoch'] ?? 0) + (leading ? 1e9 : 0), sentinel: s };
      } catch {
        return undefined;
      }
    }),
  );
  const best = answers.filter((a) => a !== undefined).sort((a, b) => b.rank - a.rank)[0];
  return best ? { master: best.master, sentinel: best.sentinel } : undefined;
}

/** The replicas a Sentinel knows, excluding ones it considers down. */
export async function sentinelReplicas(ep: Endpoint, masterName: string): Promise<Endpoint[]> {
  const r = await redisCommand(ep.host, ep.port, ['SENTINEL', 'replicas', masterName], 500);
  if (!Array.isArray(r)) return [];
  return r
    .map((item) => respPairs(item))
    .filter((p) => !/s_down|o_down|disconnected/.test(p.flags ?? ''))
    .map((p) => ({ host: p.ip ?? '127.0.0.1', port: Number(p.port) }));
}

/**
 * A Sentinel is ready when it monitors the master, sees it up, knows a replica
 * and both peers: only then can a killed master be failed over.
 */
export async function sentinelReady(ep: Endpoint, masterName: string, expectedPeers: number): Promise<true | undefined> {
  const master = respPairs(await redisCommand(ep.host, ep.port, ['SENTINEL', 'master', masterName], 500));
  if (!master.flags || master.flags !== 'master') return undefined;
  if (Number(master['num-slaves'] ?? 0) < 1) return undefined;
  if (Number(master['num-other-sentinels'] ?? 0) < expectedPeers) return undefined;
  // Without INFO from the replica a failover aborts with -failover-abort-no-good-slave
  // and is not retried for 2 x failover-timeout: wait until Sentinel has seen it.
  const replicas = await redisCommand(ep.host, ep.port, ['SENTINEL', 'replicas', masterName], 500);
  if (!Array.isArray(replicas)) return undefined;
  const good = replicas.map(respPairs).some((r) => r.flags === 'slave' && r['master-link-status'] === 'ok');
  return good ? true : undefined;
}

/**
 * Sentinel's internal periods (Redis >= 7.0, `SENTINEL DEBUG`). The defaults (ping 1 s,
 * ask 1 s, info 10 s) put a floor of ~2 s under a failover; the lab shortens them so a
 * killed master is replaced well under the seed's 3 s. They are runtime-only, so they
 * are applied after every Sentinel start.
 */
export async function applySentinelTimers(ep: Endpoint, timers: Record<string, number>): Promise<void> {
  const args = Object.entries(timers).flatMap(([k, v]) => [k, String(v)]);
  if (args.length === 0) return;
  const r = await redisCommand(ep.host, ep.port, ['SENTINEL', 'DEBUG', ...args], 1000);
  if (r instanceof Error) throw r;
}

export async function redisVersion(ep: Endpoint): Promise<string> {
  const r = await redisCommand(ep.host, ep.port, ['INFO', 'server'], 1000);
  const m = typeof r === 'string' ? /redis_version:(\S+)/.exec(r) : null;
  return m?.[1] ?? 'unknown';
}

// ---------- AOF recovery and RDB restore (seed §3.3 steps 4-5) ----------

/** Redis 7's multi-part AOF: a directory holding a manifest, a base file and incr files (defaults of `appenddirname` / `appendfilename`). */
export const AOF_DIR = 'appendonlydir';
export const AOF_MANIFEST = 'appendonly.aof.manifest';
export const RDB_FILE = 'dump.rdb';
/** The base file a restore writes: Redis 7 accepts an RDB as the AOF base (`type b`, `.rdb` suffix). */
const RESTORED_BASE = 'appendonly.aof.1.base.rdb';

/** How a Redis node's data came back when the lab (re)started it. */
export interface AofRestore {
  /** `corrupt-aof`: Redis refused its AOF and redis-check-aof confirmed it; `missing-aof`: no AOF, an RDB was there. */
  reason: 'corrupt-aof' | 'missing-aof';
  /** Where the refused AOF directory was moved (kept for forensics), if any. */
  quarantined: string | null;
  /** The RDB snapshot the node starts from, or null when there was none (the node starts empty). */
  rdb: string | null;
  /** When the snapshot was written (file mtime, wall ms), or null. */
  rdbWrittenAt: number | null;
  /** redis-check-aof's verdict (last lines), or why it could not run. */
  check: string;
}

/** Lines Redis 7 logs when it refuses to load its AOF (src/aof.c). A torn tail is not one: `aof-load-truncated yes` loads it. */
const AOF_REFUSED = /Bad file format reading the append only file|Unrecoverable error reading the append only file|Unexpected end of file reading the append only file|Invalid AOF manifest|Found an unexpected AOF file|AOF file .* doesn't exist/;

export function redisRefusedAof(logText: string): boolean {
  return AOF_REFUSED.test(logText);
}

/** Run `redis-check-aof` (read-only: no --fix) on a data dir's manifest. */
export async function checkAof(dataDir: string, checker = whichBinary('redis-check-aof')): Promise<{ ok: boolean | undefined; output: string }> {
  const manifest = join(dataDir, AOF_DIR, AOF_MANIFEST);
  if (!existsSync(manifest)) return { ok: false, output: `no ${AOF_DIR}/${AOF_MANIFEST}` };
  if (!checker) return { ok: undefined, output: 'redis-check-aof is not installed (package redis-tools)' };
  return new Promise((resolve) => {
    execFile(checker, [manifest], { cwd: join(dataDir, AOF_DIR), timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim().split('\n').slice(-4).join('\n');
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ ok: err ? (typeof code === 'number' ? false : undefined) : true, output });
    });
  });
}

/**
 * Seed §3.3 step 5, "If Redis corruption → Restore from RDB snapshot": move the AOF
 * directory aside (never delete it) and make the last RDB snapshot the base of a new
 * one. Redis 7 with `appendonly yes` ignores dump.rdb when no AOF exists and would start
 * empty; an RDB listed as the AOF base is loaded instead. Without a snapshot the node
 * starts empty. Either way the runtimes rewrite everything newer from DuckDB when they
 * reconnect (runtime/store/redis.ts resync).
 */
export function restoreFromRdb(dataDir: string, now: number, reason: AofRestore['reason'], check: string): AofRestore {
  const aof = join(dataDir, AOF_DIR);
  let quarantined: string | null = null;
  if (existsSync(aof)) {
    quarantined = join(dataDir, `${AOF_DIR}.corrupt-${now}`);
    renameSync(aof, quarantined);
  }
  mkdirSync(aof, { recursive: true });
  const rdb = join(dataDir, RDB_FILE);
  if (!existsSync(rdb)) return { reason, quarantined, rdb: null, rdbWrittenAt: null, check };
  copyFileSync(rdb, join(aof, RESTORED_BASE));
  writeFileSync(join(aof, AOF_MANIFEST), `file ${RESTORED_BASE} seq 1 type b\n`);
  return { reason, quarantined, rdb, rdbWrittenAt: Math.round(statSync(rdb).mtimeMs), check };
}

/**
 * Before a node starts: an AOF-enabled node without an AOF but with an RDB snapshot
 * would start empty (see restoreFromRdb), so the snapshot becomes its AOF base.
 */
export function restoreMissingAof(dataDir: string, now: number, appendonly: boolean): AofRestore | undefined {
  if (!appendonly || existsSync(join(dataDir, AOF_DIR, AOF_MANIFEST)) || !existsSync(join(dataDir, RDB_FILE))) return undefined;
  return restoreFromRdb(dataDir, now, 'missing-aof', `no ${AOF_DIR}/${AOF_MANIFEST}`);
}
