import type { Command } from 'commander';
import { startRuntime } from '../../runtime/main.ts';
import { parsePort } from '../options.ts';

/**
 * `ea-chaos runtime --config FILE`: run the reference EA runtime until
 * SIGTERM/SIGINT or POST /shutdown. Prints one JSON line with its control URL
 * on stdout once the control API listens; logs (pino JSON) go to stderr.
 */
export function registerRuntime(program: Command): void {
  program
    .command('runtime')
    .description('run the reference EA runtime (control API on loopback: /health /ready /state /events, POST /orders /shutdown)')
    .requiredOption('--config <file>', 'runtime JSON config (validated; restored from <file>.last-good if broken)')
    .option('--port <port>', 'control API port, overriding runtime.control.port (0 = free port)', parsePort)
    .option('--instance <id>', 'instance id, overriding runtime.instanceId')
    .action(async (opts: { config: string; port?: number; instance?: string }) => {
      const handle = await startRuntime({
        configFile: opts.config,
        overrides: { ...(opts.port !== undefined ? { controlPort: opts.port } : {}), ...(opts.instance !== undefined ? { instanceId: opts.instance } : {}) },
      });
      process.stdout.write(`${JSON.stringify({ control: handle.url, pid: process.pid, instance: handle.config.runtime.instanceId, ready: handle.isReady() })}\n`);
      const onSignal = () => void handle.stop();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      await handle.done;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
}
