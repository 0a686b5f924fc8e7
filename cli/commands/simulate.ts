import { Command, Option } from 'commander';
import { createLogger } from '../../core/log.ts';
import { createRandom } from '../../core/random.ts';
import { loadProfile, parseProfile, type SimulatorProfile } from '../../simulator/broker/faults.ts';
import { startBroker, type BrokerHandle } from '../../simulator/broker/server.ts';
import { startFeed, type FeedHandle } from '../../simulator/feed/server.ts';
import { parseNumberOption, parsePort, parseSeed } from '../options.ts';

interface SimulateOpts {
  seed?: number;
  host: string;
  port?: number;
  feedPort?: number;
  adminPort?: number;
  feedAdminPort?: number;
  profile?: string;
  rate?: number;
  marginMode?: 'netting' | 'hedging';
  dedupe?: boolean;
  json?: boolean;
}

type Which = 'broker' | 'feed' | 'all';

/** Start what was asked, print endpoints as one JSON line, run until SIGINT/SIGTERM. */
async function runSimulate(which: Which, opts: SimulateOpts): Promise<void> {
  // Listen for the stop signal before anything starts, so a signal sent during start-up is not lost.
  let onSignal: (sig: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => {
    onSignal = (sig: string) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await runUntilSignal(which, opts, stopSignal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runUntilSignal(which: Which, opts: SimulateOpts, stopSignal: Promise<string>): Promise<void> {
  const profile: SimulatorProfile = opts.profile ? loadProfile(opts.profile) : parseProfile({});
  const seed = opts.seed ?? profile.seed ?? 1;
  const random = createRandom(seed);
  const log = createLogger('simulate');
  let feed: FeedHandle | undefined;
  let broker: BrokerHandle | undefined;
  const stopAll = async () => {
    await broker?.stop();
    await feed?.stop();
  };
  try {
    if (which !== 'broker') {
      feed = await startFeed({
        random: random.fork('feed'),
        host: opts.host,
        port: which === 'feed' ? (opts.port ?? 0) : (opts.feedPort ?? 0),
        symbols: profile.symbols,
        ticksPerSecond: opts.rate ?? profile.feed.ticksPerSecond,
        branching: profile.feed.branching,
        stepMs: profile.feed.stepMs,
        adminPort: which === 'feed' ? (opts.adminPort ?? 0) : (opts.feedAdminPort ?? 0),
      });
    }
    if (which !== 'feed') {
      broker = await startBroker({
        random: random.fork('broker'),
        host: opts.host,
        port: opts.port ?? 0,
        adminPort: opts.adminPort ?? 0,
        feed,
        symbols: profile.symbols,
        marginMode: opts.marginMode ?? profile.broker.marginMode,
        dedupe: opts.dedupe ?? profile.broker.dedupe,
        balance: profile.broker.balance,
        leverage: profile.broker.leverage,
        currency: profile.broker.currency,
        faults: profile.broker.faults,
        logger: log,
      });
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  const out: Record<string, unknown> = {};
  if (broker) out.broker = broker.endpoint;
  if (feed) out.feed = feed.endpoint;
  out.seed = seed;
  process.stdout.write(`${JSON.stringify(out)}\n`);
  if (!opts.json) {
    if (broker) process.stderr.write(`broker  ${broker.host}:${broker.port} (admin ${broker.admin})\n`);
    if (feed) process.stderr.write(`feed    ${feed.host}:${feed.port} (admin ${feed.admin}, epoch ${feed.epoch})\n`);
    process.stderr.write('running; Ctrl-C to stop\n');
  }
  const sig = await stopSignal;
  log.info({ signal: sig }, 'stopping simulator');
  await stopAll();
}

export function registerSimulate(program: Command): void {
  const sim = program.command('simulate').description('run the simulated MT5 broker and/or market-data feed (docs/protocol.md)');
  const add = (name: Which, description: string) => {
    const c = sim
      .command(name)
      .description(description)
      .option('--seed <n>', 'seed for every price move and broker decision', parseSeed)
      .option('--host <host>', 'loopback address to listen on', '127.0.0.1')
      .option('--port <port>', name === 'feed' ? 'feed TCP port (0 = free port)' : 'broker TCP port (0 = free port)', parsePort)
      .option('--profile <file>', 'YAML or JSON simulator profile (faults, symbols, feed rate)')
      .option('--rate <ticks-per-second>', 'average feed tick rate', parseNumberOption('rate', { min: 0.001, max: 1_000_000 }))
      .option('--json', 'only the machine-readable endpoints line (on stdout), no human lines on stderr');
    c.option('--admin-port <port>', `${name === 'feed' ? 'feed' : 'broker'} admin HTTP port (0 = free port)`, parsePort);
    if (name !== 'feed') {
      c.addOption(new Option('--margin-mode <mode>', 'account type').choices(['netting', 'hedging']))
        .option('--dedupe', 'reject resent orders (same magic, symbol and comment) instead of executing them again');
    }
    if (name === 'all') {
      c.option('--feed-port <port>', 'feed TCP port (0 = free port)', parsePort).option('--feed-admin-port <port>', 'feed admin HTTP port (0 = free port)', parsePort);
    }
    c.action((opts: SimulateOpts) => runSimulate(name, opts));
  };
  add('broker', 'start the simulated broker (with an internal, non-listening feed for its prices)');
  add('feed', 'start the market-data feed');
  add('all', 'start the feed and a broker that fills at its prices');
}
