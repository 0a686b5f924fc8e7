import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../core/config/index.ts';
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
  return true;
}

export async function redisVersion(ep: Endpoint): Promise<string> {
  const r = await redisCommand(ep.host, ep.port, ['INFO', 'server'], 1000);
  const m = typeof r === 'string' ? /redis_version:(\S+)/.exec(r) : null;
  return m?.[1] ?? 'unknown';
}
