import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../core/config/index.ts';
import { ConfigError } from '../../core/errors.ts';
import { readHistories } from '../../harness/history/index.ts';
import { renderSummary, replayMeta, runMain, validateTags, type RunOptions } from '../../harness/run.ts';
import { loadScenarioFile } from '../../harness/scenario/index.ts';
import { EXIT_FAIL } from '../exit.ts';
import { parseNumberOption, parseSeed, parseTimeScale } from '../options.ts';

/** The compressed time scale `npm start` and `npm test` run the suite at. */
export const DEFAULT_TIME_SCALE = 0.05;

interface RunFlags {
  tags?: string;
  timeScale?: number;
  repeat: number;
  seed?: number;
  out: string;
  scenario?: string;
  config?: string;
}

async function execute(o: RunOptions): Promise<void> {
  const t0 = Date.now();
  const out = await runMain({ ...o, progress: (line) => process.stderr.write(`  ${line}\n`) });
  process.stdout.write(`\n${renderSummary(out.report, { color: process.stdout.isTTY === true })}\n`);
  process.stdout.write(
    `run ${out.runId}: ${out.report.status.toUpperCase()} in ${Math.round((Date.now() - t0) / 1000)} s (seed ${o.config.seed}, time scale ${o.config.timeScale})\n` +
      `report: ${relative(process.cwd(), out.files.html)}\n        ${relative(process.cwd(), out.files.json)}\n        ${relative(process.cwd(), out.files.junit)}\n`,
  );
  if (out.report.status !== 'pass' || !out.suiteSuccess) process.exitCode = EXIT_FAIL;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('the main job: bring up the embedded lab, play every scenario, measure recoveries against the seed goals, check invariants, write a recovery report')
    .option('--tags <expr>', 'only scenarios matching this tag expression, e.g. "@redis and not @realtime"')
    .option('--time-scale <x>', `multiply policy durations by x (default ${DEFAULT_TIME_SCALE})`, parseTimeScale)
    .option('--repeat <n>', 'run every scenario n times, for distributions', parseNumberOption('repeat', { min: 1, max: 1000, integer: true }), 1)
    .option('--seed <n>', 'seed of the run (repeat k uses seed + k)', parseSeed)
    .option('--out <dir>', 'where run directories are written', 'reports/runs')
    .option('--scenario <file>', 'play one YAML fault schedule instead of the feature suite')
    .option('--config <file>', 'JSON or YAML config file')
    .action(async (f: RunFlags) => {
      // Everything is validated before any service starts.
      const config = loadConfig({ file: f.config, seed: f.seed, timeScale: f.timeScale ?? DEFAULT_TIME_SCALE });
      validateTags(f.tags);
      const scenario = f.scenario ? loadScenarioFile(f.scenario) : undefined;
      if (scenario && f.tags) throw new ConfigError('--tags and --scenario cannot be combined: a scenario file is one scenario', [{ path: '--tags', received: f.tags, expected: 'no --tags with --scenario' }]);
      const cfg = scenario ? { ...config, seed: f.seed ?? scenario.seed ?? config.seed, timeScale: f.timeScale ?? scenario.timeScale ?? config.timeScale } : config;
      await execute({ config: cfg, outDir: f.out, tags: f.tags, repeat: f.repeat, scenario });
    });

  program
    .command('replay')
    .description('play exactly the fault schedules a run recorded (same seeds, same offsets) and write a new report')
    .argument('<run-dir>', 'a run directory written by ea-chaos run')
    .option('--out <dir>', 'where the replay run directory is written', 'reports/runs')
    .option('--config <file>', 'JSON or YAML config file')
    .action(async (runDir: string, f: { out: string; config?: string }) => {
      if (!existsSync(runDir)) throw new ConfigError(`run directory ${runDir} does not exist`, [{ path: 'run-dir', received: runDir, expected: 'a run directory' }]);
      const histories = readHistories(runDir);
      if (histories.length === 0) {
        throw new ConfigError(`no histories in ${runDir}/histories: nothing to replay (was the run interrupted?)`, [{ path: 'run-dir', received: runDir, expected: 'a run directory with histories/' }]);
      }
      const config = loadConfig({ file: f.config, seed: histories[0]!.seed, timeScale: histories[0]!.timeScale });
      await execute({ config, outDir: f.out, repeat: 1, replay: histories, scenarios: replayMeta(runDir) });
    });
}
