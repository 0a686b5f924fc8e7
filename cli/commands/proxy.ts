import type { Command } from 'commander';
import { createLogger } from '../../core/log.ts';
import { startFaultProxy } from '../../faultproxy/index.ts';
import { DEFAULT_BUSY_POLL_MICROS } from '../../faultproxy/server.ts';
import { loadPopulateFile } from '../../faultproxy/populate-file.ts';
import { parseNumberOption, parsePort, parseSeed } from '../options.ts';

const parseBusyPoll = parseNumberOption('busy-poll-us', { min: 0, max: 10_000, integer: true });

interface ProxyOpts {
  host: string;
  port: number;
  config?: string;
  seed: number;
  busyPollUs: number;
}

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description(
      'serve the Toxiproxy-compatible fault proxy API (TCP toxics, plus our seeded UDP relays) until SIGINT/SIGTERM; ' +
        'prints {"api":"http://HOST:PORT"} on stdout once ready',
    )
    .option('--host <host>', 'API bind host', '127.0.0.1')
    .option('--port <port>', 'API port (0 picks a free one)', parsePort, 8474)
    .option('--config <file>', 'JSON file of proxies to create at start (Toxiproxy populate format)')
    .option('--seed <n>', 'seed for toxicity draws, jitter and UDP impairments', parseSeed, 0)
    .option(
      '--busy-poll-us <n>',
      'microseconds the loop keeps polling after forwarding traffic, to avoid idle wake-up latency (0 = off)',
      parseBusyPoll,
      DEFAULT_BUSY_POLL_MICROS,
    )
    .action(async (opts: ProxyOpts) => {
      const populate = opts.config ? loadPopulateFile(opts.config) : undefined;
      const logger = createLogger('faultproxy');
      const handle = await startFaultProxy({ host: opts.host, port: opts.port, seed: opts.seed, populate, logger, busyPollMicros: opts.busyPollUs });
      // Listen for signals before announcing readiness, so a parent that kills us right away is honoured.
      const signalled = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      process.stdout.write(`${JSON.stringify({ api: handle.url })}\n`);
      const signal = await signalled;
      logger.info({ signal }, 'fault proxy stopping');
      await handle.stop();
    });
}
