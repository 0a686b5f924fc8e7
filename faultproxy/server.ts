import { createServer, type Server } from 'node:http';
import { systemClock, type Clock } from '../core/clock.ts';
import { EaChaosError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { createRandom, type Random } from '../core/random.ts';
import { joinHostPort } from './address.ts';
import { createApiHandler } from './api.ts';
import { ProxyCollection } from './collection.ts';
import { createBusyPoll } from './busy-poll.ts';
import { parseFirstValue } from './gojson.ts';

export const DEFAULT_BUSY_POLL_MICROS = 100;

export interface FaultProxyOptions {
  /** API bind host; default 127.0.0.1. */
  host?: string;
  /** API port; default 8474 (Toxiproxy's). 0 picks a free port. */
  port?: number;
  /** Seed for toxicity draws, jitter, slicer cuts and UDP impairments. */
  seed?: number;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Proxies to create at start, in Toxiproxy's populate format (the `-config` file). */
  populate?: unknown[];
  maxBodyBytes?: number;
  /**
   * Microseconds the event loop keeps polling after forwarding a chunk or
   * datagram (busy-poll.ts); 0 turns it off. Default 100: it cuts the wake-up
   * cost of a process hop on idle virtual machines from ~120 µs to ~35 µs.
   */
  busyPollMicros?: number;
}

export interface FaultProxyHandle extends AsyncDisposable {
  /** `http://host:port`, the base URL for toxiproxy-node-client. */
  readonly url: string;
  /** Same as `url` (the lab reports it as `proxy.api`). */
  readonly api: string;
  readonly host: string;
  readonly port: number;
  readonly collection: ProxyCollection;
  /** Closes the API, every listener and every proxied connection. Idempotent. */
  stop(): Promise<void>;
}

export class FaultProxyError extends EaChaosError {}

/** Starts the Toxiproxy-compatible API server (with the UDP extension). */
export async function startFaultProxy(opts: FaultProxyOptions = {}): Promise<FaultProxyHandle> {
  const host = opts.host ?? '127.0.0.1';
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? createRandom(opts.seed ?? 0);
  const logger = opts.logger ?? silentLogger;
  const busyPoll = createBusyPoll(opts.busyPollMicros ?? DEFAULT_BUSY_POLL_MICROS);
  const collection = new ProxyCollection(clock, random, busyPoll.kick);
  const server: Server = createServer(createApiHandler({ collection, logger, maxBodyBytes: opts.maxBodyBytes }));
  // Go's ReadTimeout 15 s, IdleTimeout 60 s: a slow client cannot hold the API.
  server.requestTimeout = 15_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 60_000;

  const stopAll = () => {
    busyPoll.stop();
    for (const p of collection.proxies.values()) p.stop();
    for (const r of collection.relays.values()) r.stop();
  };

  if (opts.populate) {
    try {
      await collection.populate(parseFirstValue(JSON.stringify(opts.populate)));
    } catch (e) {
      stopAll();
      throw new FaultProxyError('E_PROXY_POPULATE', `populate at start-up failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 8474, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    stopAll();
    const code = (e as NodeJS.ErrnoException).code;
    throw new FaultProxyError('E_PROXY_LISTEN', `fault proxy API cannot listen on ${joinHostPort(host, opts.port ?? 8474)}: ${code ?? String(e)}`, {
      cause: e,
    });
  }
  const addr = server.address();
  const port = addr && typeof addr === 'object' ? addr.port : (opts.port ?? 8474);
  const url = `http://${joinHostPort(host, port)}`;
  logger.info({ url }, 'fault proxy API listening');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      stopAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return stopping;
  };

  return {
    url,
    api: url,
    host,
    port,
    collection,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
