import { RunHistorySchema, type RunHistory, type RunHistoryInput } from '../../../harness/history/schema.ts';
import { parseScenario } from '../../../harness/scenario/load.ts';
import { resolveSchedule } from '../../../harness/scenario/resolve.ts';

export const T0 = 1_732_460_000_000;

type Ev = { ts: number; type: string; component?: string; instance?: string; data?: Record<string, unknown> };

/** A history from a few faults and events; times are ms after T0. */
export function history(opts: {
  scenario?: string;
  faults: unknown[];
  log?: { id: string; injectedAt: number | null; healedAt?: number | null }[];
  events?: Ev[];
  repeat?: number;
  endedAt?: number;
  extra?: Partial<RunHistoryInput>;
}): RunHistory {
  const name = opts.scenario ?? 'demo';
  const scenario = parseScenario({ name, description: 'd', tags: ['@redis'], faults: opts.faults }, name);
  const schedule = resolveSchedule(scenario, 1);
  const faultLog =
    opts.log?.map((l) => {
      const f = schedule.faults.find((x) => x.id === l.id)!;
      return { id: l.id, kind: f.kind, target: f.target, injectedAt: l.injectedAt === null ? null : T0 + l.injectedAt, healedAt: l.healedAt == null ? null : T0 + l.healedAt };
    }) ??
    schedule.faults.map((f) => ({ id: f.id, kind: f.kind, target: f.target, injectedAt: T0 + f.atMs, healedAt: f.durationMs === null ? null : T0 + f.atMs + f.durationMs }));
  const events = (opts.events ?? []).map((e, i) => ({ seq: i + 1, component: e.component ?? e.type.split('.')[0]!, ...e, ts: T0 + e.ts }));
  return RunHistorySchema.parse({
    schema: 'ea-chaos/history@1',
    runId: 'run-test',
    scenario: name,
    repeat: opts.repeat ?? 0,
    seed: 1,
    timeScale: 1,
    startedAt: T0,
    endedAt: T0 + (opts.endedAt ?? 60_000),
    schedule,
    faultLog,
    events,
    ledger: null,
    orders: null,
    positions: null,
    ticks: null,
    stores: null,
    ...opts.extra,
  });
}
