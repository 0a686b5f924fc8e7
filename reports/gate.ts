import { z } from 'zod';
import { parseDocumentText, zodIssues } from '../core/config/load.ts';
import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigIssue } from '../core/errors.ts';
import { GOAL_KEYS, percentile } from '../harness/measure/goals.ts';
import { COMPONENT_IDS, type ComponentId } from '../harness/scenario/vocabulary.ts';
import { fmtMs } from './escape.ts';
import type { RunReport } from './schema.ts';

export type GoalOverrides = Partial<Record<ComponentId, number>>;

const KEY_TO_ID = new Map<string, ComponentId>();
for (const c of COMPONENT_IDS) {
  KEY_TO_ID.set(c, c);
  KEY_TO_ID.set(GOAL_KEYS[c], c);
}

const GoalsFileSchema = z.strictObject({
  /** Per component: id (`tick`) or config key (`tickStreamMs`) → threshold in ms (not scaled). */
  goals: z.record(z.string(), z.number().nonnegative().finite()).default({}),
  /** Let `unknown` invariants through (they fail the gate by default). */
  allowUnknown: z.boolean().default(false),
});

export interface GateSettings {
  overrides: GoalOverrides;
  allowUnknown: boolean;
}

/**
 * A goals file (YAML or JSON): `{goals: {tick: 150, redisStateMs: 2500}, allowUnknown: false}`.
 * Thresholds are absolute ms and replace the report's (possibly scaled) goals.
 */
export function parseGoalsFile(text: string, source: string): GateSettings {
  const doc = parseDocumentText(text, source) ?? {};
  const r = GoalsFileSchema.safeParse(doc);
  const issues: ConfigIssue[] = r.success ? [] : zodIssues(r.error, doc);
  const overrides: GoalOverrides = {};
  if (r.success) {
    for (const [k, v] of Object.entries(r.data.goals)) {
      const id = KEY_TO_ID.get(k);
      if (!id) issues.push({ path: `goals.${k}`, received: v, expected: `a component (${COMPONENT_IDS.join(', ')}) or goal key (${Object.values(GOAL_KEYS).join(', ')})` });
      else overrides[id] = v;
    }
  }
  if (issues.length > 0) {
    throw new ConfigError(`invalid goals file ${source}:\n${issues.map((i) => `  - ${i.path}: got ${JSON.stringify(i.received) ?? 'nothing'}; expected ${i.expected}`).join('\n')}`, issues, { source });
  }
  return { overrides, allowUnknown: r.success ? r.data.allowUnknown : false };
}

export function loadGoalsFile(path: string): GateSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read goals file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: path, cause: e });
  }
  return parseGoalsFile(text, path);
}

export interface GateResult {
  ok: boolean;
  failures: string[];
  components: { id: ComponentId; name: string; goalMs: number; p99Ms: number | null; samples: number; unrecovered: number; pass: boolean | null }[];
}

/**
 * The CI gate: every measured component's p99 within its goal (overrides
 * replace goals), no recovery missing, every invariant `pass` (or `unknown`
 * when allowed), and every scheduled fault injected.
 */
export function evaluateGate(r: RunReport, s: Partial<GateSettings> = {}): GateResult {
  const overrides = s.overrides ?? {};
  const failures: string[] = [];
  const components = r.components.map((c) => {
    const goalMs = overrides[c.id] ?? c.goalMs;
    const p99 = percentile(c.sampleMs, 99);
    const pass = c.samples === 0 ? null : c.unrecovered === 0 && p99 !== null && p99 <= goalMs;
    if (pass === false) failures.push(`${c.name}: ${c.unrecovered ? `${c.unrecovered} fault(s) without recovery` : `p99 ${fmtMs(p99)} > goal ${fmtMs(goalMs)}`}`);
    return { id: c.id, name: c.name, goalMs, p99Ms: p99, samples: c.samples, unrecovered: c.unrecovered, pass };
  });
  if (r.scenarios.length === 0) failures.push('no scenario ran in this run');
  for (const sc of r.scenarios) {
    const label = `${sc.name}#${sc.repeat + 1}`;
    for (const i of sc.invariants) {
      if (i.status === 'fail') failures.push(`${label}: invariant ${i.name} failed: ${i.details}`);
      else if (i.status === 'unknown' && !s.allowUnknown) failures.push(`${label}: invariant ${i.name} unknown: ${i.details}`);
    }
    for (const f of sc.faults) if (f.injectedAt === null) failures.push(`${label}: fault ${f.id} (${f.kind} ${f.target}) was not injected${f.error ? `: ${f.error}` : ''}`);
  }
  return { ok: failures.length === 0, failures, components };
}
