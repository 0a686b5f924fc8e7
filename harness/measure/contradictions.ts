import type { Config } from '../../core/config/schema.ts';
import type { ComponentId } from '../scenario/vocabulary.ts';

/**
 * Where the seed's own tuning cannot meet its own goal, the report says so and
 * says what the runtime does instead. Each note is derived from the effective
 * config, so it disappears when a user's tuning no longer conflicts.
 */
export interface SeedContradiction {
  id: string;
  component: ComponentId;
  /** What the seed prescribes, with the numbers in force. */
  seed: string;
  /** The goal it conflicts with. */
  goal: string;
  conflict: string;
  /** What the reference runtime does about it. */
  resolution: string;
  configKeys: string[];
}

const s = (ms: number) => (ms >= 1000 ? `${+(ms / 1000).toFixed(3)} s` : `${ms} ms`);

export function seedContradictions(config: Pick<Config, 'trade' | 'tick' | 'clickhouse' | 'process' | 'session' | 'goals'>): SeedContradiction[] {
  const out: SeedContradiction[] = [];
  const g = config.goals;
  const { trade, tick, clickhouse, process, session } = config;

  if (clickhouse.failedSyncRetryMs > g.clickhouseSyncMs || clickhouse.retryIntervalMs >= g.clickhouseSyncMs) {
    out.push({
      id: 'clickhouse-drain-period',
      component: 'clickhouse',
      seed: `§3.5: retry every ${s(clickhouse.retryIntervalMs)} (max ${clickhouse.maxRetryAttempts}), then retry from failed_syncs every ${s(clickhouse.failedSyncRetryMs)}`,
      goal: `§5: ClickHouse Sync < ${s(g.clickhouseSyncMs)}`,
      conflict: `a batch parked in failed_syncs waits up to ${s(clickhouse.failedSyncRetryMs)} for its next attempt, beyond the ${s(g.clickhouseSyncMs)} goal`,
      resolution: `the runtime probes ClickHouse every ${s(clickhouse.healthProbeIntervalMs)} while it is down and drains failed_syncs at once when a probe succeeds (clickhouse.up, then sync.drained); the ${s(clickhouse.failedSyncRetryMs)} period remains the fallback`,
      configKeys: ['clickhouse.failedSyncRetryMs', 'clickhouse.retryIntervalMs', 'clickhouse.healthProbeIntervalMs', 'goals.clickhouseSyncMs'],
    });
  }
  const maxBackoff = Math.max(...trade.backoffMs);
  if (maxBackoff > g.tradeExecutionMs || trade.failedSyncRetryMs > g.tradeExecutionMs) {
    out.push({
      id: 'trade-backoff',
      component: 'trade',
      seed: `§3.1: backoff ${trade.backoffMs.map(s).join(' → ')}, then failed_syncs every ${s(trade.failedSyncRetryMs)}`,
      goal: `§5: Trade Execution < ${s(g.tradeExecutionMs)}`,
      conflict: `an order that failed while the broker was away waits up to ${s(maxBackoff)} in backoff, beyond the ${s(g.tradeExecutionMs)} goal`,
      resolution: `the runtime probes the broker every ${s(trade.brokerProbeIntervalMs)} while orders wait and wakes them as soon as it answers (broker.up); the backoff still spaces refusals by a live broker`,
      configKeys: ['trade.backoffMs', 'trade.failedSyncRetryMs', 'trade.brokerProbeIntervalMs', 'goals.tradeExecutionMs'],
    });
  }
  if (session.reconnectIntervalMs * session.maxRecoveryAttempts > g.sessionStateMs) {
    out.push({
      id: 'session-new-session-delay',
      component: 'session',
      seed: `§3.7: reconnect every ${s(session.reconnectIntervalMs)}, a new session after ${session.maxRecoveryAttempts} failed attempts`,
      goal: `§5: Session State < ${s(g.sessionStateMs)}`,
      conflict: `a new session can only start after ${s(session.reconnectIntervalMs * session.maxRecoveryAttempts)} of failed attempts`,
      resolution: `session recovery is measured from the moment Redis is reachable again (or from a master kill, which Sentinel repairs); the next reconnect, at most ${s(session.reconnectIntervalMs)} (× timeScale) later, restores or renews it. A renewal during a long outage is reported by session.renewed, not timed against the goal`,
      configKeys: ['session.reconnectIntervalMs', 'session.maxRecoveryAttempts', 'goals.sessionStateMs'],
    });
  }
  if (tick.reconnectIntervalMs > g.tickStreamMs) {
    out.push({
      id: 'tick-tcp-reconnect',
      component: 'tick',
      seed: `§3.2: TCP reconnect every ${s(tick.reconnectIntervalMs)} (max ${tick.maxReconnectAttempts})`,
      goal: `§5/§4: Tick Stream < ${s(g.tickStreamMs)} (TCP fallback within 100 ms)`,
      conflict: `a lost TCP path is retried only every ${s(tick.reconnectIntervalMs)}`,
      resolution: `the ${s(g.tickStreamMs)} goal is held for the UDP→TCP fallback (dead UDP detected after ${tick.missedHeartbeats} missed ${s(tick.heartbeatIntervalMs)} heartbeats); TCP reconnects and feed restarts are judged by the no-tick-loss invariant (history gap fill) instead`,
      configKeys: ['tick.reconnectIntervalMs', 'tick.heartbeatIntervalMs', 'tick.missedHeartbeats', 'goals.tickStreamMs'],
    });
  }
  if (process.restartIntervalMs >= g.eaProcessMs) {
    out.push({
      id: 'process-restart-interval',
      component: 'process',
      seed: `§3.6: restart immediately; restart interval ${s(process.restartIntervalMs)}`,
      goal: `§5/§4: EA Process < ${s(g.eaProcessMs)} (restart within 1 s)`,
      conflict: `waiting the restart interval before every restart would spend the whole ${s(g.eaProcessMs)} goal`,
      resolution: `the supervisor restarts at once after a crash and uses the interval only to space consecutive restarts (runtime/supervisor/policy.ts)`,
      configKeys: ['process.restartIntervalMs', 'goals.eaProcessMs'],
    });
  }
  return out;
}

interface Ev {
  ts: number;
  type: string;
  instance?: string | undefined;
  data?: Record<string, unknown> | undefined;
}

function delays(events: readonly Ev[], from: (e: Ev) => boolean, to: (e: Ev) => boolean): number[] {
  const out: number[] = [];
  const sorted = [...events].sort((a, b) => a.ts - b.ts);
  sorted.forEach((e, i) => {
    if (!from(e)) return;
    const next = sorted.slice(i + 1).find((x) => to(x) && (x.instance ?? '') === (e.instance ?? ''));
    const stop = sorted.slice(i + 1).find((x) => from(x) && (x.instance ?? '') === (e.instance ?? ''));
    if (next && (!stop || next.ts <= stop.ts)) out.push(next.ts - e.ts);
  });
  return out;
}

const range = (xs: number[]) => {
  if (xs.length === 0) return '';
  const s = [...xs].sort((a, b) => a - b);
  return s[0] === s[s.length - 1] ? `${Math.round(s[0]!)} ms` : `${Math.round(s[0]!)}–${Math.round(s[s.length - 1]!)} ms`;
};

/**
 * What the recorded events show the runtime actually did about each
 * contradiction, e.g. "3 drains, 120–180 ms after ClickHouse answered again".
 * Notes without evidence in these events are returned unchanged.
 */
export function observeContradictions(notes: readonly SeedContradiction[], events: readonly Ev[]): (SeedContradiction & { observed?: string })[] {
  const count = (type: string) => events.filter((e) => e.type === type).length;
  return notes.map((n) => {
    let observed: string | undefined;
    if (n.id === 'clickhouse-drain-period') {
      const d = delays(events, (e) => e.type === 'clickhouse.up', (e) => e.type === 'sync.drained');
      const parked = count('sync.parked');
      if (d.length || parked) observed = `${parked} batch(es) parked in failed_syncs; ${d.length} drain(s), ${range(d) || 'none'} after ClickHouse answered again`;
    } else if (n.id === 'trade-backoff') {
      const d = delays(events, (e) => e.type === 'broker.up', (e) => e.type === 'order.state' && ['filled', 'partially_filled', 'reconciled'].includes(String(e.data?.['to'])));
      const woken = count('order.retry_woken');
      if (d.length || woken) observed = `${woken} waiting order(s) woken by the broker probe; first fill ${range(d) || 'not seen'} after broker.up`;
    } else if (n.id === 'session-new-session-delay') {
      const renewed = count('session.renewed');
      const recovered = count('session.recovered');
      if (renewed || recovered) observed = `${recovered} session(s) recovered, ${renewed} renewed after ${n.seed.match(/after (\d+)/)?.[1] ?? 'the maximum'} failed attempts`;
    } else if (n.id === 'tick-tcp-reconnect') {
      const reconnects = count('tick.tcp_reconnecting');
      const d = delays(events, (e) => e.type === 'tick.udp_down', (e) => e.type === 'tick.switched');
      if (reconnects || d.length) observed = `UDP→TCP switch ${range(d) || 'not seen'} after UDP was declared down; ${reconnects} TCP reconnect attempt(s)`;
    } else if (n.id === 'process-restart-interval') {
      const waits = events.filter((e) => e.type === 'process.restarting').map((e) => Number(e.data?.['inMs'])).filter(Number.isFinite);
      if (waits.length) observed = `${waits.length} restart(s), scheduled ${range(waits)} after the exit`;
    }
    return observed === undefined ? { ...n } : { ...n, observed };
  });
}
