import type { Config } from '../core/config/schema.ts';
import { runCheckers, type CheckResult } from '../harness/checkers/checkers.ts';
import type { RunHistory } from '../harness/history/schema.ts';
import { aggregateComponents, effectiveGoal, sampleWithinGoal, type AggregateOptions, type Scaling } from '../harness/measure/goals.ts';
import { measureRecoveries } from '../harness/measure/measure.ts';
import { observeContradictions, seedContradictions, type SeedContradiction } from '../harness/measure/contradictions.ts';
import { COMPONENT_IDS, COMPONENT_NAMES, type CheckName, type ComponentId } from '../harness/scenario/vocabulary.ts';
import { REPORT_SCHEMA_ID, type Recovery, type RunReport, type ScenarioResult } from './schema.ts';

type Status = 'pass' | 'fail' | 'unknown';

export interface ScenarioMeta {
  description?: string;
  tags?: string[];
  /** Checkers to run for this scenario (all when absent). */
  checks?: CheckName[];
}

export interface BuildOptions {
  runId: string;
  /** ISO time the report is made; passed in so building stays pure. */
  createdAt: string;
  histories: readonly RunHistory[];
  /** The run's config (goals and the tunings seed contradictions are derived from). */
  config: Pick<Config, 'seed' | 'timeScale' | 'goals'> & Partial<Pick<Config, 'trade' | 'tick' | 'clickhouse' | 'process' | 'session'>>;
  /** Seed contradictions to report; derived from `config` when it holds every tuning section. */
  seedContradictions?: SeedContradiction[];
  scaling?: Partial<Record<ComponentId, Scaling>>;
  /** Per scenario name: description, tags and the checkers that apply. */
  scenarios?: Record<string, ScenarioMeta>;
  environment?: Record<string, unknown>;
  versions?: Record<string, string>;
  /** History file names relative to the run dir, in the order of `histories`. */
  historyFiles?: readonly string[];
  /** Precomputed invariant results per history index (e.g. from live checks); otherwise runCheckers runs. */
  invariants?: readonly (CheckResult[] | undefined)[];
}

export function worst(statuses: readonly Status[]): Status {
  if (statuses.includes('fail')) return 'fail';
  if (statuses.includes('unknown')) return 'unknown';
  return 'pass';
}

/**
 * One scenario run's status: fail when an invariant fails or a recovery missed
 * its goal; unknown when an invariant could not decide or a fault was never
 * injected; pass only when everything was decided and held.
 */
export function scenarioStatus(s: Pick<ScenarioResult, 'invariants' | 'recoveries' | 'faults'>): Status {
  const st: Status[] = s.invariants.map((i) => i.status);
  for (const r of s.recoveries) if (r.pass === false) st.push('fail');
  for (const f of s.faults) if (f.injectedAt === null) st.push('unknown');
  return worst(st);
}

export function runStatus(r: Pick<RunReport, 'scenarios' | 'components'>): Status {
  // A run in which nothing ran proves nothing.
  if (r.scenarios.length === 0) return 'unknown';
  const st: Status[] = r.scenarios.map((s) => s.status);
  for (const c of r.components) if (c.pass === false) st.push('fail');
  return worst(st);
}

export function buildRunReport(o: BuildOptions): RunReport {
  const agg: AggregateOptions = { goals: o.config.goals, timeScale: o.config.timeScale };
  if (o.scaling) agg.scaling = o.scaling;
  const allSamples = o.histories.flatMap((h) => measureRecoveries(h));
  const versions: Record<string, string> = { ...o.versions };
  const scenarios: ScenarioResult[] = o.histories.map((h, i) => {
    for (const [k, v] of Object.entries(h.versions)) versions[k] ??= v;
    const meta = o.scenarios?.[h.scenario] ?? {};
    const log = new Map(h.faultLog.map((l) => [l.id, l]));
    const recoveries: Recovery[] = measureRecoveries(h).map((s) => ({ ...s, goalMs: effectiveGoal(s.component, agg).goalMs, pass: sampleWithinGoal(s, agg) }));
    const faults = h.schedule.faults.map((f) => {
      const l = log.get(f.id);
      const out: ScenarioResult['faults'][number] = {
        id: f.id,
        kind: f.kind,
        target: f.target,
        atMs: f.atMs,
        durationMs: f.durationMs,
        components: f.components,
        reference: f.reference,
        injectedAt: l?.injectedAt ?? null,
        healedAt: l?.healedAt ?? null,
      };
      if (l?.error !== undefined) out.error = l.error;
      return out;
    });
    const invariants = o.invariants?.[i] ?? runCheckers(h, meta.checks);
    const res: ScenarioResult = {
      name: h.scenario,
      repeat: h.repeat,
      status: 'unknown',
      seed: h.seed,
      timeScale: h.timeScale,
      startedAt: h.startedAt,
      endedAt: h.endedAt,
      faults,
      recoveries,
      invariants,
    };
    if (meta.description !== undefined) res.description = meta.description;
    if (meta.tags !== undefined) res.tags = meta.tags;
    const file = o.historyFiles?.[i];
    if (file) res.history = file;
    res.status = scenarioStatus(res);
    return res;
  });
  const components = aggregateComponents(allSamples, agg);
  const starts = o.histories.map((h) => h.startedAt);
  const ends = o.histories.map((h) => h.endedAt);
  const report: RunReport = {
    schema: REPORT_SCHEMA_ID,
    runId: o.runId,
    createdAt: o.createdAt,
    status: 'unknown',
    seed: o.config.seed,
    timeScale: o.config.timeScale,
    durationMs: starts.length ? Math.max(...ends) - Math.min(...starts) : 0,
    goalScaling: COMPONENT_IDS.map((c) => ({ component: c, name: COMPONENT_NAMES[c], ...pick(effectiveGoal(c, agg)) })),
    components,
    scenarios,
    seedContradictions: observeContradictions(
      (o.seedContradictions ?? contradictionsOf(o.config)).map(({ observed: _, ...n }: SeedContradiction & { observed?: string }) => n),
      o.histories.flatMap((h) => h.events),
    ),
    environment: { ...o.environment },
    versions,
  };
  report.status = runStatus(report);
  return report;
}

function pick(g: ReturnType<typeof effectiveGoal>) {
  return { scaling: g.scaling, factor: g.factor, seedGoalMs: g.seedGoalMs, goalMs: g.goalMs };
}

function contradictionsOf(c: BuildOptions['config']): SeedContradiction[] {
  const { trade, tick, clickhouse, process, session, goals } = c;
  if (!trade || !tick || !clickhouse || !process || !session) return [];
  return seedContradictions({ trade, tick, clickhouse, process, session, goals });
}
