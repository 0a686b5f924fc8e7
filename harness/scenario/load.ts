import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { formatIssues, parseDocumentText, zodIssues } from '../../core/config/load.ts';
import { ConfigError, type ConfigIssue } from '../../core/errors.ts';
import { FaultsSchema } from '../../simulator/broker/faults.ts';
import { FAULT_SCHEMAS, ScenarioHeadSchema } from './schema.ts';
import { FAULT_KINDS, TARGETS, isFaultKind, type CheckName, type ComponentId, type FaultKind, type ReferencePoint, type ScenarioTag } from './vocabulary.ts';

export interface FaultSpec {
  at: number;
  kind: FaultKind;
  target: string;
  /** ms the fault lasts before its heal; null: no heal step (e.g. a kill left to the supervisor). */
  duration: number | null;
  repeat: { count: number; every: number } | null;
  jitter: number;
  note?: string;
  /** Overrides of faultEffect(): components measured and the reference point. */
  measure?: ComponentId[];
  reference?: ReferencePoint;
  /** The kind's own settings: the toxic, the UDP impairments, the broker knobs or the file mode. */
  params: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  description: string;
  tags: ScenarioTag[];
  seed?: number;
  timeScale?: number;
  workload: { runtimes: number; ordersPerSecond: number; symbols: string[]; duration: number; settle: number; brokerBackup?: boolean };
  checks?: CheckName[];
  faults: FaultSpec[];
  /** File it came from (or the label passed to parseScenario). */
  source: string;
}

const PARAM_FIELD: Partial<Record<FaultKind, string>> = {
  'network.toxic': 'toxic',
  'udp.impair': 'impair',
  'broker.knob': 'knobs',
  'file.corrupt': 'file',
};

function prefixed(prefix: string, issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => ({
    ...i,
    path: i.path === '(root)' ? prefix : i.path.startsWith('[') ? `${prefix}${i.path}` : `${prefix}.${i.path}`,
  }));
}

function formatScenarioIssues(source: string, issues: readonly ConfigIssue[]): string {
  return formatIssues(source, issues, 'scenario');
}

function parseFault(raw: unknown, index: number, issues: ConfigIssue[]): FaultSpec | undefined {
  const prefix = `faults[${index}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    issues.push({ path: prefix, received: raw, expected: 'a fault object with at, kind, target' });
    return undefined;
  }
  const obj = raw as Record<string, unknown>;
  if (!isFaultKind(obj['kind'])) {
    issues.push({ path: `${prefix}.kind`, received: obj['kind'], expected: `one of ${FAULT_KINDS.join(', ')}` });
    return undefined;
  }
  const kind = obj['kind'];
  const before = issues.length;
  const target = obj['target'];
  if (typeof target === 'string' && !TARGETS[kind].pattern.test(target)) {
    issues.push({ path: `${prefix}.target`, received: target, expected: `for ${kind}, ${TARGETS[kind].expected}` });
  }
  const r = (FAULT_SCHEMAS[kind] as z.ZodType).safeParse(raw);
  if (!r.success) issues.push(...prefixed(prefix, zodIssues(r.error, raw)));
  if (!r.success || issues.length > before) return undefined;
  const f = r.data as Record<string, unknown> & { at: number; target: string; duration?: number; repeat?: { count: number; every: number }; jitter?: number; note?: string; measure?: ComponentId[]; reference?: ReferencePoint };
  const field = PARAM_FIELD[kind];
  let params = field ? (f[field] as Record<string, unknown>) : {};
  if (kind === 'broker.knob') {
    // Validated against the simulator's own knob schema (every knob has a default,
    // so this is what merging over "no faults" does) so a typo fails before any service starts.
    const k = FaultsSchema.safeParse(params);
    if (!k.success) {
      issues.push(...prefixed(`${prefix}.knobs`, zodIssues(k.error, params)));
      return undefined;
    }
    params = { ...params };
  }
  const duration = f.duration ?? null;
  if (f.repeat && duration !== null && f.repeat.count > 1 && f.repeat.every <= duration) {
    issues.push({ path: `${prefix}.repeat.every`, received: f.repeat.every, expected: `more than the fault's duration (${duration} ms), so repeats do not overlap` });
    return undefined;
  }
  const spec: FaultSpec = {
    at: f.at,
    kind,
    target: f.target,
    duration,
    repeat: f.repeat ?? null,
    jitter: f.jitter ?? 0,
    params,
  };
  if (f.note !== undefined) spec.note = f.note;
  if (f.measure !== undefined) spec.measure = f.measure;
  if (f.reference !== undefined) spec.reference = f.reference;
  return spec;
}

/** Validate a parsed scenario document. Throws ConfigError listing every bad field with its path. */
export function parseScenario(doc: unknown, source = 'scenario'): Scenario {
  const input = doc === null || doc === undefined ? {} : doc;
  const issues: ConfigIssue[] = [];
  const head = ScenarioHeadSchema.safeParse(input);
  if (!head.success) issues.push(...zodIssues(head.error, input));
  const faultsRaw = input !== null && typeof input === 'object' && Array.isArray((input as Record<string, unknown>)['faults']) ? ((input as Record<string, unknown>)['faults'] as unknown[]) : [];
  const faults: FaultSpec[] = [];
  faultsRaw.forEach((raw, i) => {
    const f = parseFault(raw, i, issues);
    if (f) faults.push(f);
  });
  if (issues.length > 0 || !head.success) throw new ConfigError(formatScenarioIssues(source, issues), issues, { source });
  const h = head.data;
  const scenario: Scenario = {
    name: h.name,
    description: h.description,
    tags: h.tags,
    workload: h.workload,
    faults,
    source,
  };
  if (h.seed !== undefined) scenario.seed = h.seed;
  if (h.timeScale !== undefined) scenario.timeScale = h.timeScale;
  if (h.checks !== undefined) scenario.checks = h.checks;
  return scenario;
}

/** Parse YAML or JSON text (syntax errors carry line and column). */
export function parseScenarioText(text: string, source: string): Scenario {
  return parseScenario(parseDocumentText(text, source), source);
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read scenario file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: path, cause: e });
  }
  return parseScenarioText(text, path);
}
