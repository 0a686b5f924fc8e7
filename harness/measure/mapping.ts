import type { ComponentId } from '../scenario/vocabulary.ts';

/**
 * Which runtime events say a component is back, and which say it was hit.
 * Names are the ones the runtime emits (runtime/**, core/events.ts); this table
 * is documented in docs/reports.md.
 */
export interface EventLike {
  ts: number;
  type: string;
  component?: string;
  instance?: string | undefined;
  data?: Record<string, unknown> | undefined;
}

interface Matcher {
  type: string;
  /** Extra condition on `data`, described for the docs. */
  when?: { describe: string; test: (data: Record<string, unknown>) => boolean };
}

const orderReached = (states: string[]): Matcher['when'] => ({
  describe: `data.to in ${states.join('|')}`,
  test: (d) => typeof d['to'] === 'string' && states.includes(d['to']),
});

export const RECOVERY_EVENTS: Record<ComponentId, Matcher[]> = {
  trade: [{ type: 'broker.up' }, { type: 'order.state', when: orderReached(['filled', 'partially_filled', 'reconciled']) }],
  tick: [{ type: 'tick.switched' }, { type: 'tick.stream_resumed' }],
  redis: [{ type: 'redis.master_changed' }, { type: 'redis.up' }],
  duckdb: [{ type: 'duckdb.restored' }, { type: 'duckdb.rebuilt' }, { type: 'duckdb.open' }],
  // sync.drained is required instead of clickhouse.up when a batch was parked (see measure.ts).
  clickhouse: [{ type: 'sync.drained' }, { type: 'clickhouse.up' }],
  process: [{ type: 'process.ready' }, { type: 'runtime.ready' }],
  session: [{ type: 'session.recovered' }, { type: 'session.renewed' }],
};

export const DISRUPTION_EVENTS: Record<ComponentId, Matcher[]> = {
  trade: [{ type: 'broker.down' }, { type: 'order.retry' }, { type: 'order.parked' }, { type: 'order.state', when: orderReached(['retrying', 'unknown']) }],
  tick: [{ type: 'tick.udp_down' }, { type: 'tick.tcp_disconnected' }, { type: 'tick.stream_stopped' }],
  redis: [{ type: 'redis.down' }, { type: 'redis.client_recreated' }],
  duckdb: [{ type: 'duckdb.corrupt' }, { type: 'duckdb.locked' }, { type: 'duckdb.rebuild_needed' }],
  clickhouse: [{ type: 'clickhouse.down' }, { type: 'sync.retry' }, { type: 'sync.parked' }],
  process: [{ type: 'process.exited' }, { type: 'runtime.starting' }],
  session: [{ type: 'session.reconnect_failed' }],
};

export function matches(list: readonly Matcher[], e: EventLike): boolean {
  return list.some((m) => m.type === e.type && (!m.when || m.when.test(e.data ?? {})));
}

/** `redis.master_changed`, `order.state (data.to in filled|...)`: for docs and report notes. */
export function describeMatchers(list: readonly Matcher[]): string[] {
  return list.map((m) => (m.when ? `${m.type} (${m.when.describe})` : m.type));
}

/** The instance an event belongs to: `instance`, else `data.instance` (the supervisor puts it there). */
export function instanceOf(e: EventLike): string {
  if (e.instance !== undefined) return e.instance;
  const d = e.data?.['instance'];
  return typeof d === 'string' || typeof d === 'number' ? String(d) : '';
}

/** Does an event belong to the runtime a `runtime:N` (or `duckdb-wal:N`) target names? */
export function belongsToTarget(e: EventLike, target: string): boolean {
  const idx = target.split(':')[1];
  if (idx === undefined) return true;
  const inst = instanceOf(e);
  if (inst === idx || inst.endsWith(`-${idx}`)) return true;
  const dIdx = e.data?.['index'];
  return dIdx !== undefined && String(dIdx) === idx;
}
