import type { AofRestore } from './redis.ts';

/** The shape `ea-chaos lab status --json` prints; documented in README. */
export interface Endpoint {
  host: string;
  port: number;
}

export interface LabInfo {
  provider: 'local' | 'external';
  dir: string;
  sentinelMasterName: string;
  redis: { master: Endpoint; replicas: Endpoint[] };
  sentinels: Endpoint[];
  clickhouse: { url: string };
  /** Embedded Toxiproxy-compatible API (issue: fault proxy). */
  proxy?: { api: string };
  /** Simulated broker and feed (issue: simulator). */
  broker?: { host: string; port: number; admin: string };
  feed?: { host: string; port: number };
  /** pid of every process the lab started, by service name. */
  pids: Record<string, number>;
  versions: Record<string, string>;
  startedAt: string;
  /**
   * Redis nodes whose AOF was restored from their RDB snapshot when the lab started over an
   * existing directory (refused as corrupt, or missing). Absent when nothing was restored.
   */
  aofRestored?: ({ service: string } & AofRestore)[];
}

/** Names of the services a local lab runs. */
export type LabService = 'redis-master' | 'redis-replica' | 'sentinel-1' | 'sentinel-2' | 'sentinel-3' | 'clickhouse' | (string & {});
