import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { parseConfig, parseDocumentText, type Config } from '../../core/config/index.ts';
import { ConfigError } from '../../core/errors.ts';
import { EaChaosError } from '../../core/errors.ts';
import { EventBus } from '../../core/events.ts';
import { createLogger } from '../../core/log.ts';
import { LogNotifier } from '../../runtime/notifier.ts';
import { compiledEntry, REPO_ROOT, RUNTIME_ENTRY, WARM_ENTRY } from '../../runtime/supervisor/build.ts';
import { startSupervisor, type ChildSpec } from '../../runtime/supervisor/supervisor.ts';
import { runtimeChild } from '../../runtime/supervisor/runtime-child.ts';
import { parseRuntimeConfig } from '../../runtime/config.ts';
import { readFileSync } from 'node:fs';
import { parseNumberOption, parsePort, parseTimeScale } from '../options.ts';

export { compiledEntry, distPathFor, REPO_ROOT, RUNTIME_ENTRY, WARM_ENTRY } from '../../runtime/supervisor/build.ts';

/** A core config, or a runtime config (core + `runtime` section): supervise only needs `process.*`. */
function loadAnyConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: file, cause: e });
  }
  const doc = parseDocumentText(text, file);
  if (doc && typeof doc === 'object' && 'runtime' in doc) return parseRuntimeConfig(doc, file);
  return parseConfig(doc, file);
}

interface SuperviseOpts {
  config: string;
  instances: number;
  healthPort?: number;
  host: string;
  entry?: string;
  timeScale?: number;
  warm: boolean;
}

export function registerSupervise(program: Command): void {
  program
    .command('supervise')
    .description(
      'run N runtimes as child processes started from compiled JS (bundled on demand into dist/), restart them at once on a crash, ' +
        '1 s apart, give up after 3 restarts in 30 s (config process.*); serves GET /health; prints {"health":URL,"instances":[...]} when started',
    )
    .requiredOption('--config <file>', 'JSON or YAML config file, passed to every instance')
    .option('--instances <n>', 'number of runtime instances', parseNumberOption('instances', { min: 1, max: 64, integer: true }), 1)
    .option('--health-port <port>', "port of the supervisor's own /health (0 = free port)", parsePort, 0)
    .option('--host <host>', 'address for /health and the instances control APIs', '127.0.0.1')
    .option('--entry <file>', 'child entry point instead of runtime/main.ts (TypeScript is bundled; it must serve /ready on EA_CHAOS_CONTROL_PORT)')
    .option('--time-scale <x>', "multiply the runtimes' policy durations by x (the supervisor's restart interval and 30 s cooldown stay in real time)", parseTimeScale)
    .option('--no-warm', 'no warm standby per runtime instance (a restart then pays Node start-up and every import)')
    .action(async (opts: SuperviseOpts) => {
      const configPath = resolve(opts.config);
      const log = createLogger('supervisor');
      const events = new EventBus(systemClock);
      events.subscribe((e) => log.info({ event: e.type, ...e.data }));
      let config: Config;
      let child: (i: number, port: number) => ChildSpec;
      let instanceId: ((i: number) => string) | undefined;
      let js: string;
      if (!opts.entry) {
        if (!existsSync(RUNTIME_ENTRY)) throw new EaChaosError('E_USAGE', `the runtime entry ${RUNTIME_ENTRY} does not exist; pass --entry FILE`);
        // The real runtime: one generated config per instance (control port, instance id, data dir).
        js = await compiledEntry(RUNTIME_ENTRY);
        const warmJs = opts.warm ? await compiledEntry(WARM_ENTRY) : undefined;
        const made = runtimeChild({ configFile: configPath, js, warmJs, instances: opts.instances, dir: join(REPO_ROOT, 'dist', 'supervise'), host: opts.host });
        config = made.base;
        child = made.child;
        instanceId = made.instanceId;
      } else {
        config = loadAnyConfig(configPath);
        js = await compiledEntry(resolve(opts.entry));
        child = (i, port) => ({
          command: process.execPath,
          args: [js, '--config', configPath, '--port', String(port), '--instance', `ea-${i}`],
          env: { EA_CHAOS_CONFIG: configPath },
          readyUrl: `http://${opts.host}:${port}/ready`,
        });
      }
      if (opts.timeScale !== undefined) config = { ...config, timeScale: opts.timeScale };
      const sup = startSupervisor({
        clock: systemClock,
        config,
        events,
        notifier: new LogNotifier(log),
        instances: opts.instances,
        host: opts.host,
        healthPort: opts.healthPort,
        child,
        instanceId,
      });
      const signalled = new Promise<string>((r) => {
        process.once('SIGINT', () => r('SIGINT'));
        process.once('SIGTERM', () => r('SIGTERM'));
      });
      try {
        const { healthUrl } = await sup.ready;
        process.stdout.write(`${JSON.stringify({ health: healthUrl, entry: js, instances: sup.status().map((s) => ({ id: s.id, port: s.port, pid: s.pid })) })}\n`);
        const signal = await signalled;
        log.info({ signal }, 'supervisor stopping');
      } finally {
        await sup.stop();
      }
    });
}
