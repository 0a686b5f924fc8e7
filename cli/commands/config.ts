import type { Command } from 'commander';
import { applyTimeScale, loadConfig } from '../../core/config/index.ts';
import { parseSeed, parseTimeScale } from '../options.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('inspect the typed configuration (seed §3 tuning and §5 goals)');
  config
    .command('print')
    .description('print the effective configuration as JSON: defaults, then --config, then flags, with timeScale applied')
    .option('--config <file>', 'JSON or YAML config file')
    .option('--time-scale <x>', 'multiply policy durations by x (e.g. 0.05 = 20x faster)', parseTimeScale)
    .option('--seed <n>', 'seed for every random stream', parseSeed)
    .option('--nominal', 'print durations at full time scale instead of the effective ones')
    .action((opts: { config?: string; timeScale?: number; seed?: number; nominal?: boolean }) => {
      const cfg = loadConfig({ file: opts.config, timeScale: opts.timeScale, seed: opts.seed });
      const out = opts.nominal ? cfg : applyTimeScale(cfg);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}
