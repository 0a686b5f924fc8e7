/**
 * The fault vocabulary of scenario files: which kinds exist, which targets each
 * accepts, which of the seed's seven components each fault disturbs, and from
 * which point its recovery is measured. docs/reports.md documents the same table;
 * keep both in step.
 */

/** The seed's seven components (§2.1 / §5), in report order. */
export const COMPONENT_IDS = ['trade', 'tick', 'redis', 'duckdb', 'clickhouse', 'process', 'session'] as const;
export type ComponentId = (typeof COMPONENT_IDS)[number];

export const COMPONENT_NAMES: Record<ComponentId, string> = {
  trade: 'Trade Execution',
  tick: 'Tick Stream',
  redis: 'Redis State',
  duckdb: 'DuckDB',
  clickhouse: 'ClickHouse Sync',
  process: 'EA Process',
  session: 'Session State',
};

export const FAULT_KINDS = [
  'process.kill',
  'process.pause',
  'process.stop',
  'network.toxic',
  'network.down',
  'udp.impair',
  'broker.knob',
  'file.corrupt',
  'file.lock',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Scenario tags: the component tags of issue 7 plus @realtime. */
export const SCENARIO_TAGS = ['@trade', '@tick', '@redis', '@duckdb', '@clickhouse', '@process', '@session', '@config', '@realtime'] as const;
export type ScenarioTag = (typeof SCENARIO_TAGS)[number];

/** Services the harness can signal or restart. `runtime` means every runtime instance; `runtime:N` one of them. */
const PROCESS_TARGET = /^(redis-master|redis-replica|sentinel-[1-9][0-9]*|clickhouse|broker|feed|consumer|runtime(:[0-9]+)?)$/;
/**
 * Fault-proxy proxies (Toxiproxy names). `redis` is every Redis-facing proxy at once
 * (master, replica and Sentinels): the way to take Redis away from the runtime entirely.
 */
const PROXY_TARGET = /^(redis|redis-master|redis-replica|sentinel-[1-9][0-9]*|clickhouse|broker|feed|tick-tcp)$/;
const UDP_TARGET = /^tick-udp$/;
const BROKER_TARGET = /^broker$/;
/** `redis-aof` is the current Redis master's append-only file: one per deployment, so no `:N`. */
const FILE_TARGET = /^((duckdb-wal|duckdb-db|config)(:[0-9]+)?|redis-aof)$/;

export const TARGETS: Record<FaultKind, { pattern: RegExp; expected: string }> = {
  'process.kill': { pattern: PROCESS_TARGET, expected: 'a process: redis-master, redis-replica, sentinel-N, clickhouse, broker, feed, consumer, runtime or runtime:N' },
  'process.pause': { pattern: PROCESS_TARGET, expected: 'a process: redis-master, redis-replica, sentinel-N, clickhouse, broker, feed, consumer, runtime or runtime:N' },
  'process.stop': { pattern: PROCESS_TARGET, expected: 'a process: redis-master, redis-replica, sentinel-N, clickhouse, broker, feed, consumer, runtime or runtime:N' },
  'network.toxic': { pattern: PROXY_TARGET, expected: 'a proxy: redis, redis-master, redis-replica, sentinel-N, clickhouse, broker, feed or tick-tcp' },
  'network.down': { pattern: PROXY_TARGET, expected: 'a proxy: redis, redis-master, redis-replica, sentinel-N, clickhouse, broker, feed or tick-tcp' },
  'udp.impair': { pattern: UDP_TARGET, expected: 'the UDP relay: tick-udp' },
  'broker.knob': { pattern: BROKER_TARGET, expected: 'broker' },
  'file.lock': { pattern: /^duckdb-db(:[0-9]+)?$/, expected: 'a DuckDB database file: duckdb-db (optionally :N for one runtime)' },
  'file.corrupt': { pattern: FILE_TARGET, expected: 'a file: duckdb-wal, duckdb-db or config (optionally :N for one runtime), or redis-aof (the Redis master\'s AOF, no :N)' },
};

/** The invariant checkers (harness/checkers), by name; a scenario may restrict itself to some. */
export const CHECK_NAMES = ['orders-lost', 'orders-duplicated', 'orphaned-positions', 'tick-gaps', 'cross-store-consistency', 'tick-store-consistency'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export function isFaultKind(k: unknown): k is FaultKind {
  return typeof k === 'string' && (FAULT_KINDS as readonly string[]).includes(k);
}

/**
 * Where recovery is measured from:
 * - `injection`: the system must ride through the fault with its redundancy
 *   (Sentinel failover, UDP→TCP fallback, supervisor restart, backup restore),
 *   so the clock starts when the fault lands;
 * - `heal`: the fault removes the only instance of a dependency (ClickHouse, the
 *   broker, the feed, all of Redis); nothing can recover before it comes back,
 *   so the clock starts at the heal.
 */
export type ReferencePoint = 'injection' | 'heal';

export interface FaultEffect {
  components: ComponentId[];
  reference: ReferencePoint;
}

const base = (target: string) => target.split(':')[0]!;

/** The components a concrete fault disturbs and its reference point (documented in docs/reports.md). */
export function faultEffect(kind: FaultKind, target: string, params: Record<string, unknown> = {}): FaultEffect {
  const t = base(target);
  switch (kind) {
    case 'process.kill':
    case 'process.pause':
    case 'process.stop':
      if (t === 'redis-master') return { components: ['redis', 'session'], reference: 'injection' };
      if (t === 'runtime') return kind === 'process.pause' ? { components: [], reference: 'heal' } : { components: ['process'], reference: 'injection' };
      if (t === 'clickhouse') return { components: ['clickhouse'], reference: 'heal' };
      if (t === 'broker') return { components: ['trade'], reference: 'heal' };
      // The feed's reconnect loop is judged by the tick-gap invariant (see network.* below).
      if (t === 'feed') return { components: [], reference: 'heal' };
      // Replicas, Sentinels (one of three) and the consumer are redundant or outside the EA.
      return { components: [], reference: 'injection' };
    case 'network.toxic':
    case 'network.down':
      // A partition leaves the master alive for Sentinel, so nothing fails over: recovery waits for the heal.
      if (t === 'redis' || t === 'redis-master') return { components: ['redis', 'session'], reference: 'heal' };
      if (t === 'clickhouse') return { components: ['clickhouse'], reference: 'heal' };
      if (t === 'broker') return { components: ['trade'], reference: 'heal' };
      // The Tick Stream goal (< 100 ms) is the UDP→TCP fallback. TCP reconnects run on the
      // 2 s policy interval and the feed on its own reconnect loop; both are judged by the
      // tick-gap invariant, not against the 100 ms goal (docs/reports.md).
      return { components: [], reference: 'heal' };
    case 'udp.impair':
      // Only a dead UDP path must trigger the fallback; loss, delay and duplicates are repaired by gap fill.
      return params['blackhole'] === true ? { components: ['tick'], reference: 'injection' } : { components: [], reference: 'injection' };
    case 'broker.knob':
      return { components: ['trade'], reference: 'heal' };
    case 'file.corrupt':
      if (t === 'config') return { components: [], reference: 'injection' };
      // Redis comes back through the lab's restore path (AOF check, RDB restore) and the
      // runtimes' resync: all of that is the recovery, so it is timed from the corruption.
      if (t === 'redis-aof') return { components: ['redis', 'session'], reference: 'injection' };
      return { components: ['duckdb'], reference: 'injection' };
    case 'file.lock':
      // Nothing can open the file before the other process lets go: timed from the heal.
      return { components: ['duckdb'], reference: 'heal' };
  }
}
