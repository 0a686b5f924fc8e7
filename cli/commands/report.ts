import { resolve } from 'node:path';
import type { Command } from 'commander';
import { readHistories } from '../../harness/history/io.ts';
import { buildRunReport, evaluateGate, loadGoalsFile, readRunReport, renderRunFiles, renderSummary, writeRunReport, type RunReport } from '../../reports/index.ts';
import { EXIT_FAIL } from '../exit.ts';

/** Recompute measurement and checks from the recorded histories, keeping the report's goals and notes. */
function rebuild(dir: string, old: RunReport): RunReport {
  const histories = readHistories(dir);
  if (histories.length === 0) return old;
  const goals = Object.fromEntries(old.goalScaling.map((g) => [g.component, g]));
  const next = buildRunReport({
    runId: old.runId,
    createdAt: old.createdAt,
    histories,
    config: {
      seed: old.seed,
      timeScale: old.timeScale,
      goals: {
        tradeExecutionMs: goals['trade']?.seedGoalMs ?? 1000,
        tickStreamMs: goals['tick']?.seedGoalMs ?? 100,
        redisStateMs: goals['redis']?.seedGoalMs ?? 3000,
        duckdbMs: goals['duckdb']?.seedGoalMs ?? 3000,
        clickhouseSyncMs: goals['clickhouse']?.seedGoalMs ?? 5000,
        eaProcessMs: goals['process']?.seedGoalMs ?? 1000,
        sessionStateMs: goals['session']?.seedGoalMs ?? 3000,
      },
    },
    seedContradictions: old.seedContradictions,
    scaling: Object.fromEntries(old.goalScaling.map((g) => [g.component, g.scaling])),
    scenarios: Object.fromEntries(old.scenarios.map((s) => [s.name, { ...(s.description ? { description: s.description } : {}), ...(s.tags ? { tags: s.tags } : {}), checks: s.invariants.map((i) => i.name) }])),
    environment: old.environment,
    versions: old.versions,
    historyFiles: old.scenarios.map((s) => s.history ?? ''),
  });
  return next;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('render a run again: report.html, junit.xml and the summary table from <run-dir>/report.json')
    .argument('<run-dir>', 'a run directory, e.g. reports/runs/<run-id>')
    .option('--rebuild', 'recompute recoveries and invariants from <run-dir>/histories/ (same goals) and rewrite report.json')
    .option('--color', 'colour the summary table')
    .action((runDir: string, opts: { rebuild?: boolean; color?: boolean }) => {
      const dir = resolve(runDir);
      let report = readRunReport(dir);
      const files = opts.rebuild ? writeRunReport(dir, (report = rebuild(dir, report))) : renderRunFiles(dir, report);
      process.stderr.write(renderSummary(report, { reportPath: files.html, color: opts.color ?? false }));
      process.stdout.write(`${JSON.stringify({ runId: report.runId, status: report.status, files })}\n`);
    });

  program
    .command('gate')
    .description('CI gate: exit 0 only when every recovery goal and every invariant of the run holds')
    .argument('<run-dir>', 'a run directory, e.g. reports/runs/<run-id>')
    .option('--goals <file>', 'YAML/JSON goals file: {goals: {tick: 150, redisStateMs: 2500}, allowUnknown: false}')
    .option('--allow-unknown', 'let invariants that could not be decided through')
    .action((runDir: string, opts: { goals?: string; allowUnknown?: boolean }) => {
      const report = readRunReport(resolve(runDir));
      const settings = opts.goals ? loadGoalsFile(opts.goals) : { overrides: {}, allowUnknown: false };
      if (opts.allowUnknown) settings.allowUnknown = true;
      const g = evaluateGate(report, settings);
      for (const f of g.failures) process.stderr.write(`gate: ${f}\n`);
      process.stderr.write(`gate: ${g.ok ? 'PASS' : `FAIL (${g.failures.length} problem${g.failures.length === 1 ? '' : 's'})`} for run ${report.runId}\n`);
      process.stdout.write(`${JSON.stringify({ runId: report.runId, ok: g.ok, failures: g.failures, components: g.components })}\n`);
      if (!g.ok) process.exitCode = EXIT_FAIL;
    });
}
