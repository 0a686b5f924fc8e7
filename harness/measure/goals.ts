import { GoalsConfigSchema, type Config } from '../../core/config/schema.ts';
import { COMPONENT_IDS, COMPONENT_NAMES, type ComponentId } from '../scenario/vocabulary.ts';
import type { RecoverySample } from './measure.ts';

export type Goals = Config['goals'];

/** Config key of each component's seed §5 goal. */
export const GOAL_KEYS: Record<ComponentId, keyof Goals> = {
  trade: 'tradeExecutionMs',
  tick: 'tickStreamMs',
  redis: 'redisStateMs',
  duckdb: 'duckdbMs',
  clickhouse: 'clickhouseSyncMs',
  process: 'eaProcessMs',
  session: 'sessionStateMs',
};

/** The seed's §5 goals, as the config schema's defaults hold them. */
export const DEFAULT_GOALS: Goals = GoalsConfigSchema.parse({});

export type Scaling = 'scaled' | 'physical';

/**
 * Whether a component's recovery is driven by a policy interval (compressed by
 * timeScale, so its goal is compressed too) or by something physical that runs
 * in real time (issue 7 §6). The reasons are printed in docs/reports.md.
 */
export const DEFAULT_SCALING: Record<ComponentId, Scaling> = {
  // Released by the broker probe (trade.brokerProbeIntervalMs, not scaled), not by the backoff.
  trade: 'physical',
  // UDP→TCP fallback: heartbeat detection in real time.
  tick: 'physical',
  // Sentinel failover runs in real time.
  redis: 'physical',
  // Reopen and restore from backup: file work plus a process restart.
  duckdb: 'physical',
  // The runtime drains failed_syncs at once when its health probe (clickhouse.healthProbeIntervalMs,
  // not scaled) sees ClickHouse back, so the seed's 30 s period and 5 s retries never gate the
  // recovery: it runs in real time and is judged against the real 5 s goal.
  clickhouse: 'physical',
  // Process restart: the supervisor's interval and cooldown are not scaled, nor is spawn-to-ready.
  process: 'physical',
  // Follows Redis: the reconnect that restores it lands on a master Sentinel promoted in real time.
  session: 'physical',
};

export interface ComponentReport {
  id: ComponentId;
  name: string;
  /** The goal the samples are judged against: the seed goal, times timeScale when scaled. */
  goalMs: number;
  seedGoalMs: number;
  scaling: Scaling;
  /** What the seed goal was multiplied by (1 when physical). */
  factor: number;
  /** Number of judged samples (recovered + unrecovered). */
  samples: number;
  unrecovered: number;
  /** Recovery times, ascending (recovered samples only). */
  sampleMs: number[];
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** p99 <= goalMs and nothing unrecovered; null when there were no samples (not exercised). */
  pass: boolean | null;
}

/** Nearest-rank percentile of an ascending list: the value at rank ceil(p/100 * n). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface AggregateOptions {
  goals?: Partial<Goals>;
  timeScale: number;
  scaling?: Partial<Record<ComponentId, Scaling>>;
  /** Absolute thresholds (ms) that replace the computed goal, e.g. from `gate --goals`. */
  overrides?: Partial<Record<ComponentId, number>>;
}

export function effectiveGoal(c: ComponentId, o: AggregateOptions): { goalMs: number; seedGoalMs: number; scaling: Scaling; factor: number } {
  const seedGoalMs = o.goals?.[GOAL_KEYS[c]] ?? DEFAULT_GOALS[GOAL_KEYS[c]];
  const scaling = o.scaling?.[c] ?? DEFAULT_SCALING[c];
  const factor = scaling === 'scaled' ? o.timeScale : 1;
  const override = o.overrides?.[c];
  return { goalMs: override ?? Math.round(seedGoalMs * factor * 1000) / 1000, seedGoalMs, scaling, factor: override === undefined ? factor : 1 };
}

/** Per-component statistics over samples from any number of histories (e.g. `--repeat N`). */
export function aggregateComponents(samples: readonly RecoverySample[], o: AggregateOptions): ComponentReport[] {
  return COMPONENT_IDS.map((c) => {
    const mine = samples.filter((s) => s.component === c && (s.status === 'recovered' || s.status === 'unrecovered'));
    const sampleMs = mine.filter((s) => s.ms !== null).map((s) => s.ms!).sort((a, b) => a - b);
    const unrecovered = mine.length - sampleMs.length;
    const g = effectiveGoal(c, o);
    const p99 = percentile(sampleMs, 99);
    const pass = mine.length === 0 ? null : unrecovered === 0 && p99 !== null && p99 <= g.goalMs;
    return {
      id: c,
      name: COMPONENT_NAMES[c],
      ...g,
      samples: mine.length,
      unrecovered,
      sampleMs,
      p50Ms: percentile(sampleMs, 50),
      p95Ms: percentile(sampleMs, 95),
      p99Ms: p99,
      maxMs: sampleMs.length ? sampleMs[sampleMs.length - 1]! : null,
      pass,
    };
  });
}

/** Is one sample within its component's goal? */
export function sampleWithinGoal(s: RecoverySample, o: AggregateOptions): boolean | null {
  if (s.status === 'unrecovered') return false;
  if (s.status !== 'recovered' || s.ms === null) return null;
  return s.ms <= effectiveGoal(s.component, o).goalMs;
}
