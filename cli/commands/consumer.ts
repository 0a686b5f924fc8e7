import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { EventBus } from '../../core/events.ts';
import { createLogger } from '../../core/log.ts';
import { startConsumer } from '../../simulator/consumer/consumer.ts';
import { parseNumberOption, parsePort } from '../options.ts';

interface ConsumerOpts {
  host: string;
  udpPort?: number;
  tcpPort?: number;
  record?: string;
  gapGraceMs?: number;
  backfill: boolean;
  json?: boolean;
}

/** `ea-chaos simulate consumer`: the reference receiving end of the runtime's tick stream. */
export function addConsumerCommand(simulate: Command): void {
  simulate
    .command('consumer')
    .description(
      'receive the runtime tick stream (UDP, and TCP from the runtime), ack pings, fill sequence gaps from history; ' +
        'prints {"consumer":{host,udpPort,tcpPort}} when listening and a JSON stats line on exit',
    )
    .option('--host <host>', 'loopback address to listen on', '127.0.0.1')
    .option('--udp-port <port>', 'UDP port for ticks (0 = free port)', parsePort)
    .option('--tcp-port <port>', 'TCP port the runtime connects to (0 = free port)', parsePort)
    .option('--record <file>', 'append every received tick as NDJSON {epoch,seq,tick,via,receivedAt}')
    .option('--gap-grace-ms <ms>', 'wait this long for reordered ticks before asking history', parseNumberOption('gap-grace-ms', { min: 0, max: 60_000, integer: true }))
    .option('--no-backfill', 'do not ask for ticks published before the first one received')
    .option('--json', 'no human lines on stderr')
    .action(async (opts: ConsumerOpts) => {
      const log = createLogger('consumer');
      const events = new EventBus(systemClock);
      events.subscribe((e) => log.info({ event: e.type, ...e.data }));
      const c = startConsumer({
        clock: systemClock,
        host: opts.host,
        udpPort: opts.udpPort ?? 0,
        tcpPort: opts.tcpPort ?? 0,
        recordFile: opts.record,
        gapGraceMs: opts.gapGraceMs,
        backfillFromStart: opts.backfill,
        keepTicks: false,
        events,
      });
      const signalled = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      const ports = await c.ready;
      process.stdout.write(`${JSON.stringify({ consumer: ports })}\n`);
      if (!opts.json) process.stderr.write(`consumer udp ${ports.host}:${ports.udpPort} tcp ${ports.host}:${ports.tcpPort}; Ctrl-C to stop\n`);
      await signalled;
      await c.stop();
      process.stdout.write(`${JSON.stringify({ stats: c.stats(), openGaps: c.gaps(), anomalies: c.tracker.anomalies })}\n`);
    });
}
