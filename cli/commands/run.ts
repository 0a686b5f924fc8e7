import type { Command } from 'commander';
import { loadConfig } from '../../core/config/index.ts';
import { startLab } from '../../lab/index.ts';
import { smokeCheck } from '../../lab/smoke.ts';
import { EXIT_FAIL } from '../exit.ts';
import { parseSeed, parseTimeScale } from '../options.ts';

/**
 * The main job. Until the feature suite lands, `run` brings the embedded lab up,
 * smoke-checks every service, prints the endpoints and tears the lab down.
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the main job on the embedded lab: bring it up, check every service, print endpoints, tear it down')
    .option('--config <file>', 'JSON or YAML config file')
    .option('--dir <dir>', 'lab directory for this run', '.lab/run')
    .option('--seed <n>', 'seed for every random stream', parseSeed)
    .option('--time-scale <x>', 'multiply policy durations by x', parseTimeScale)
    .option('--json', 'print the endpoints and smoke results as JSON')
    .action(async (opts: { config?: string; dir: string; seed?: number; timeScale?: number; json?: boolean }) => {
      const config = loadConfig({ file: opts.config, seed: opts.seed, timeScale: opts.timeScale });
      const t0 = performance.now();
      process.stderr.write(`starting the lab in ${opts.dir} ...\n`);
      const lab = await startLab({ dir: opts.dir, config });
      try {
        const readyMs = Math.round(performance.now() - t0);
        const results = await smokeCheck(lab.info);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ lab: lab.info, readyMs, smoke: results })}\n`);
        } else {
          process.stdout.write(`lab ready in ${readyMs} ms\n`);
          process.stdout.write(`  redis master   ${lab.info.redis.master.host}:${lab.info.redis.master.port}\n`);
          for (const r of lab.info.redis.replicas) process.stdout.write(`  redis replica  ${r.host}:${r.port}\n`);
          for (const s of lab.info.sentinels) process.stdout.write(`  sentinel       ${s.host}:${s.port}\n`);
          process.stdout.write(`  clickhouse     ${lab.info.clickhouse.url}\n`);
          if (lab.info.proxy) process.stdout.write(`  fault proxy    ${lab.info.proxy.api}\n`);
          if (lab.info.broker) process.stdout.write(`  broker         ${lab.info.broker.host}:${lab.info.broker.port} (admin ${lab.info.broker.admin})\n`);
          if (lab.info.feed) process.stdout.write(`  feed           ${lab.info.feed.host}:${lab.info.feed.port}\n`);
          process.stdout.write('smoke check:\n');
          for (const r of results) process.stdout.write(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.service}: ${r.detail} (${r.ms} ms)\n`);
        }
        if (results.some((r) => !r.ok)) process.exitCode = EXIT_FAIL;
      } finally {
        await lab.stop();
        process.stderr.write('lab stopped\n');
      }
    });
}
