import type { Command } from 'commander';
import { loadConfig } from '../../core/config/index.ts';
import { LabAlreadyUpError, LocalLab, labIsUp, startLab, stopLabDir, type LabInfo } from '../../lab/index.ts';
import { smokeCheck } from '../../lab/smoke.ts';
import { EXIT_FAIL } from '../exit.ts';

interface LabOpts {
  dir?: string;
  json?: boolean;
  config?: string;
}

function printInfo(info: LabInfo, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return;
  }
  const lines = [
    `lab dir        ${info.dir}`,
    `redis master   ${info.redis.master.host}:${info.redis.master.port}`,
    ...info.redis.replicas.map((r) => `redis replica  ${r.host}:${r.port}`),
    ...info.sentinels.map((s) => `sentinel       ${s.host}:${s.port} (master name ${info.sentinelMasterName})`),
    `clickhouse     ${info.clickhouse.url}`,
  ];
  if (info.proxy) lines.push(`fault proxy    ${info.proxy.api}`);
  if (info.broker) lines.push(`broker         ${info.broker.host}:${info.broker.port} (admin ${info.broker.admin})`);
  if (info.feed) lines.push(`feed           ${info.feed.host}:${info.feed.port}`);
  lines.push(`pids           ${Object.entries(info.pids).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  for (const r of info.aofRestored ?? []) {
    lines.push(`aof restored   ${r.service}: ${r.reason}, started from ${r.rdb ?? 'nothing (no RDB snapshot)'}${r.quarantined ? `; the refused AOF is kept in ${r.quarantined}` : ''}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('run the lab of real services (Redis + 3 Sentinels + ClickHouse) on loopback');
  const common = (c: Command) =>
    c.option('--dir <dir>', 'lab directory (state, data, logs)', '.lab').option('--json', 'print machine-readable JSON');

  common(lab.command('up').description('start every service on free loopback ports and return once all are ready'))
    .option('--config <file>', 'JSON or YAML config file')
    .option('--smoke', 'after start-up, run a smoke check against every service')
    .option('--no-proxy', 'do not start the embedded fault proxy')
    .option('--no-simulator', 'do not start the simulated broker and feed')
    .action(async (opts: LabOpts & { smoke?: boolean; proxy: boolean; simulator: boolean }) => {
      const config = loadConfig({ file: opts.config });
      const up = labIsUp(opts.dir ?? '.lab');
      if (up) {
        process.stderr.write(`lab already up in ${up.info.dir}\n`);
        printInfo(up.info, opts.json);
        return;
      }
      const t0 = performance.now();
      let handle;
      try {
        handle = await startLab({ dir: opts.dir, config, proxy: opts.proxy, simulator: opts.simulator });
      } catch (e) {
        if (e instanceof LabAlreadyUpError) {
          process.stderr.write(`lab already up in ${e.info.dir}\n`);
          printInfo(e.info, opts.json);
          return;
        }
        throw e;
      }
      if (!opts.json) process.stderr.write(`lab up in ${Math.round(performance.now() - t0)} ms\n`);
      printInfo(handle.info, opts.json);
      if (opts.smoke) {
        const results = await smokeCheck(handle.info);
        for (const r of results) process.stderr.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.service}: ${r.detail} (${r.ms} ms)\n`);
        if (results.some((r) => !r.ok)) process.exitCode = EXIT_FAIL;
      }
    });

  common(lab.command('status').description('print the running lab and its current Redis master (asks the Sentinels)')).action(async (opts: LabOpts) => {
    const dir = opts.dir ?? '.lab';
    const state = labIsUp(dir);
    const lab = LocalLab.attach(dir);
    if (!state || !lab) {
      if (opts.json) process.stdout.write(`${JSON.stringify({ up: false, dir })}\n`);
      else process.stderr.write(`no lab is up in ${dir}\n`);
      process.exitCode = EXIT_FAIL;
      return;
    }
    printInfo(await lab.status(), opts.json);
  });

  common(lab.command('down').description('stop every process the lab started (by pid); keep the data unless --clean'))
    .option('--clean', 'also delete the lab directory and its data')
    .action(async (opts: LabOpts & { clean?: boolean }) => {
      const dir = opts.dir ?? '.lab';
      const { wasUp } = await stopLabDir(dir, { clean: opts.clean });
      const msg = wasUp ? `lab in ${dir} stopped${opts.clean ? ' and cleaned' : ''}` : `no lab was up in ${dir}; cleaned up leftovers`;
      if (opts.json) process.stdout.write(`${JSON.stringify({ stopped: wasUp, dir, clean: !!opts.clean })}\n`);
      else process.stderr.write(`${msg}\n`);
    });
}
