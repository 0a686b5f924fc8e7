import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseTagExpression } from '@cucumber/tag-expressions';
import type { Config } from '../core/config/index.ts';
import { ConfigError } from '../core/errors.ts';
import { buildRunReport, makeRunId, renderSummary, writeRunReport, type RunReport, type ScenarioMeta, type WrittenReport } from '../reports/index.ts';
import { collectHistory } from './collect.ts';
import { runSuite } from './cucumber.ts';
import { parseHistory, writeHistories, type RunHistory } from './history/index.ts';
import { Nemesis } from './nemesis.ts';
import { playSchedule } from './play.ts';
import { CHECK_NAMES, resolveSchedule, type CheckName, type ResolvedSchedule, type Scenario } from './scenario/index.ts';
import { Testbed } from './testbed/testbed.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const FEATURES_DIR = join(ROOT, 'features');

/**
 * Tags with a documented meaning whether or not a feature uses them right now: `@wip`
 * (known to fail, left out of `npm test`) and `@realtime` (only meaningful at full scale).
 */
export const CONVENTIONAL_TAGS = ['@wip', '@realtime'] as const;

/** Every tag used in the feature files: a tag expression naming another is a mistake, caught before anything starts. */
export function knownTags(dir = FEATURES_DIR): Set<string> {
  const tags = new Set<string>(CONVENTIONAL_TAGS);
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.feature')) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line.trim().startsWith('@')) continue;
      for (const t of line.trim().split(/\s+/)) if (t.startsWith('@')) tags.add(t);
    }
  }
  return tags;
}

/** Validate a cucumber tag expression and that every tag in it exists; ConfigError (exit 2) otherwise. */
export function validateTags(expr: string | undefined): void {
  if (!expr) return;
  try {
    parseTagExpression(expr);
  } catch (e) {
    throw new ConfigError(`invalid --tags expression ${JSON.stringify(expr)}: ${(e as Error).message}`, [{ path: '--tags', received: expr, expected: 'a tag expression like "@redis and not @realtime"' }]);
  }
  const known = knownTags();
  const unknown = (expr.match(/@[\w-]+/g) ?? []).filter((t) => !known.has(t));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown tag ${unknown.join(', ')} in --tags; the features use: ${[...known].sort().join(' ')}`, [
      { path: '--tags', received: unknown.join(' '), expected: `one of ${[...known].sort().join(' ')}` },
    ]);
  }
}

export interface RunOptions {
  config: Config;
  outDir: string;
  tags?: string;
  repeat: number;
  scenario?: Scenario;
  /** Replay: play these exact schedules instead of resolving anything. */
  replay?: RunHistory[];
  /** Replay: what the original run knew of its scenarios (tags, so the same checkers apply); see `replayMeta`. */
  scenarios?: Record<string, ScenarioMeta>;
  progress?: (line: string) => void;
}

export interface RunOutcome {
  runId: string;
  dir: string;
  report: RunReport;
  files: WrittenReport;
  suiteSuccess: boolean;
}

/** Run one resolved schedule on a fresh testbed and collect its history. */
export async function runSchedule(o: {
  config: Config;
  dir: string;
  runId: string;
  scenario: string;
  repeat: number;
  schedule: ResolvedSchedule;
  workload: Scenario['workload'];
}): Promise<RunHistory> {
  const bed = await Testbed.start({ dir: o.dir, config: o.config, instances: o.workload.runtimes, ordersPerSecond: o.workload.ordersPerSecond, brokerBackup: o.workload.brokerBackup });
  try {
    const startedAt = Date.now();
    const nemesis = new Nemesis(bed);
    // Schedules run in wall-clock time: a heal compressed below Sentinel's real failover
    // time would change what the scenario means. timeScale compresses the runtime's policies.
    const until = startedAt + Math.max(o.workload.duration, o.schedule.endMs);
    await playSchedule(nemesis, bed.faultLog, o.schedule, startedAt);
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + o.workload.settle));
    return await collectHistory(bed, { runId: o.runId, scenario: o.scenario, repeat: o.repeat, schedule: o.schedule, startedAt });
  } finally {
    await bed.stop();
  }
}

/**
 * The checkers that apply to a scenario, from its tags: tick gaps and the tick
 * stores only where a tick stream runs (@tick). An inapplicable checker is left out rather than
 * reported "unknown"; an applicable one that cannot decide still says "unknown".
 */
export function checksForTags(tags: readonly string[]): CheckName[] {
  // @ea-stopped: the scenario ends with the EA deliberately stopped (the supervisor gave up), so
  // nothing can settle its orders or converge its stores; only "no duplicate" still means something.
  if (tags.includes('@ea-stopped')) return ['orders-duplicated'];
  return CHECK_NAMES.filter((c) => !c.startsWith('tick-') || tags.includes('@tick'));
}

/**
 * The scenarios of a run directory as its report described them, so a replay judges each with the
 * same checkers (a scenario without `@tick` never had its tick gaps judged). Empty when the run has
 * no readable report (an interrupted run): every checker then applies.
 */
export function replayMeta(runDir: string): Record<string, ScenarioMeta> {
  const out: Record<string, ScenarioMeta> = {};
  try {
    const r = JSON.parse(readFileSync(join(runDir, 'report.json'), 'utf8')) as { scenarios?: { name?: unknown; description?: unknown; tags?: unknown }[] };
    for (const s of r.scenarios ?? []) {
      if (typeof s.name !== 'string' || !Array.isArray(s.tags)) continue;
      const tags = s.tags.filter((t): t is string => typeof t === 'string');
      out[s.name] = { ...(typeof s.description === 'string' ? { description: s.description } : {}), tags, checks: checksForTags(tags) };
    }
  } catch {
    /* no report: all checkers */
  }
  return out;
}

function gatherSuiteMeta(dir: string): Record<string, ScenarioMeta> {
  const out: Record<string, ScenarioMeta> = {};
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && e.name !== 'bed') walk(p);
      else if (e.name === 'meta.json') {
        const m = JSON.parse(readFileSync(p, 'utf8')) as { scenario: string; title: string; tags: string[] };
        out[m.scenario] = { description: m.title, tags: m.tags, checks: checksForTags(m.tags) };
      }
    }
  };
  walk(dir);
  return out;
}

function gatherSuiteHistories(dir: string): RunHistory[] {
  const out: RunHistory[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && e.name !== 'bed') walk(p);
      else if (e.name === 'history.json') out.push(parseHistory(JSON.parse(readFileSync(p, 'utf8')), p));
    }
  };
  walk(dir);
  return out.sort((a, b) => a.startedAt - b.startedAt);
}

/**
 * The main job: play every scenario (the Gherkin suite, one scenario file, or a
 * replay), `repeat` times, and write the recovery report to `<outDir>/<run-id>/`.
 */
export async function runMain(o: RunOptions): Promise<RunOutcome> {
  const startedAt = new Date();
  const runId = makeRunId(startedAt, o.config.seed);
  const dir = join(o.outDir, runId);
  mkdirSync(dir, { recursive: true });
  const say = o.progress ?? (() => {});
  writeFileSync(
    join(dir, 'run.json'),
    JSON.stringify({ runId, seed: o.config.seed, timeScale: o.config.timeScale, tags: o.tags ?? null, repeat: o.repeat, scenario: o.scenario?.source ?? null, replayOf: o.replay ? true : null, config: o.config, startedAt: startedAt.toISOString() }, null, 2),
  );
  let histories: RunHistory[] = [];
  let scenarios: Record<string, ScenarioMeta> = {};
  let suiteSuccess = true;
  if (o.replay) {
    scenarios = { ...(o.scenarios ?? {}) };
    for (const [i, h] of o.replay.entries()) {
      say(`replaying ${h.scenario} (repeat ${h.repeat + 1}, ${h.schedule.faults.length} faults)`);
      const config = { ...o.config, seed: h.seed, timeScale: h.timeScale };
      histories.push(await runSchedule({ config, dir: join(dir, 'work', `${i}`), runId, scenario: h.scenario, repeat: h.repeat, schedule: h.schedule, workload: { runtimes: Math.max(1, h.magic.length), ordersPerSecond: 5, symbols: ['EURUSD'], duration: h.endedAt - h.startedAt, settle: 1000 } }));
    }
  } else if (o.scenario) {
    for (let k = 0; k < o.repeat; k++) {
      const seed = o.config.seed + k;
      const schedule = resolveSchedule(o.scenario, seed);
      say(`scenario ${o.scenario.name} (repeat ${k + 1}/${o.repeat}, seed ${seed}, ${schedule.faults.length} faults)`);
      histories.push(await runSchedule({ config: { ...o.config, seed }, dir: join(dir, 'work', `r${k}`), runId, scenario: o.scenario.name, repeat: k, schedule, workload: o.scenario.workload }));
    }
  } else {
    for (let k = 0; k < o.repeat; k++) {
      const t0 = Date.now();
      const res = await runSuite({
        runDir: join(dir, 'work', `r${k}`),
        runId,
        repeat: k,
        seed: o.config.seed + k,
        timeScale: o.config.timeScale,
        tags: o.tags,
        onScenario: (name, status) => say(`${status === 'PASSED' ? 'pass' : status.toLowerCase()}  ${name}  (${Math.round((Date.now() - t0) / 1000)} s)`),
      });
      suiteSuccess &&= res.success;
    }
    histories = gatherSuiteHistories(join(dir, 'work'));
    scenarios = gatherSuiteMeta(join(dir, 'work'));
  }
  if (o.scenario) scenarios[o.scenario.name] = { description: o.scenario.description, tags: o.scenario.tags, checks: o.scenario.checks ?? checksForTags(o.scenario.tags) };
  const files = writeHistories(dir, histories);
  const report = buildRunReport({
    runId,
    createdAt: new Date().toISOString(),
    histories,
    config: o.config,
    scenarios,
    historyFiles: files.map((f) => relative(dir, f)),
    environment: { platform: platform(), release: release(), cpus: cpus().length, node: process.version, provider: o.config.lab.provider, tags: o.tags ?? null },
  });
  if (!suiteSuccess && report.status === 'pass') report.status = 'fail';
  const written = writeRunReport(dir, report);
  return { runId, dir, report, files: written, suiteSuccess };
}

export { renderSummary };
