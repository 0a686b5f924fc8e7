import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { AddressError, listenErrorText, resolveListen, splitHostPort } from './address.ts';
import { Connection } from './link.ts';
import { toxicJson, type StreamDirection, type ToxicSpec } from './toxics.ts';

/** A failure with Toxiproxy's status and `error` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const ERR = {
  proxyNotFound: () => new ApiError(404, 'proxy not found'),
  proxyExists: () => new ApiError(409, 'proxy already exists'),
  invalidStream: () => new ApiError(400, 'stream was invalid, can be either upstream or downstream'),
  invalidToxicType: () => new ApiError(400, 'invalid toxic type'),
  toxicExists: () => new ApiError(409, 'toxic already exists'),
  toxicNotFound: () => new ApiError(404, 'toxic not found'),
};

/**
 * One TCP proxy: a listener, its live connections and its toxics. `listen` is
 * the resolved bound address once started; a proxy created disabled keeps the
 * address as given until it first starts (as Toxiproxy does).
 */
export class TcpProxy {
  listen: string;
  upstream: string;
  enabled = false;
  readonly toxics: Record<StreamDirection, ToxicSpec[]> = { upstream: [], downstream: [] };
  private server: Server | undefined;
  private readonly conns = new Set<Connection>();
  /** Accepted clients whose upstream dial is still in flight. */
  private readonly dialing = new Set<Socket>();
  /** Bumped on every stop, so a dial that finishes after a restart does not join the new generation. */
  private generation = 0;
  private nextConnId = 0;

  constructor(
    readonly name: string,
    listen: string,
    upstream: string,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly onTraffic: () => void = () => {},
  ) {
    this.listen = listen;
    this.upstream = upstream;
  }

  toJson(): Record<string, unknown> {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      Logger: {},
      toxics: [...this.toxics.upstream, ...this.toxics.downstream].map(toxicJson),
    };
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Binds the listener; on failure throws ApiError 500 with Go's text and stays disabled. */
  async start(): Promise<void> {
    if (this.enabled) return;
    let resolved;
    try {
      resolved = await resolveListen(this.listen);
    } catch (e) {
      throw new ApiError(500, e instanceof AddressError ? `listen tcp: ${e.message}` : String(e));
    }
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.on('connection', (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ApiError(500, listenErrorText(err, resolved.text))));
      server.listen({ host: resolved.host, port: resolved.port, exclusive: true }, () => resolve());
    });
    server.on('error', () => {});
    const addr = server.address();
    if (addr && typeof addr === 'object') {
      this.listen = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
    }
    this.server = server;
    this.enabled = true;
  }

  /** Closes the listener and every live connection at once. */
  stop(): void {
    if (this.server) {
      this.server.close();
      this.server = undefined;
    }
    this.enabled = false;
    this.generation++;
    for (const c of [...this.conns]) c.destroy();
    this.conns.clear();
    for (const s of [...this.dialing]) s.destroy();
    this.dialing.clear();
  }

  private accept(client: Socket): void {
    const id = this.nextConnId++;
    let host: string;
    let port: number;
    try {
      const hp = splitHostPort(this.upstream);
      host = hp.host;
      port = Number(hp.port);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('bad port');
    } catch {
      client.destroy();
      return;
    }
    client.on('error', () => {});
    const generation = this.generation;
    this.dialing.add(client);
    // Dial asynchronously (Go dials inside its accept loop); a failed dial closes the client: EOF, not ECONNREFUSED.
    const up = connect({ host: host || 'localhost', port, allowHalfOpen: true, noDelay: true });
    up.pause();
    up.on('error', () => {});
    const onFail = () => {
      client.destroy();
      up.destroy();
    };
    up.once('error', onFail);
    client.once('close', () => {
      this.dialing.delete(client);
      if (up.connecting) up.destroy();
    });
    up.once('connect', () => {
      up.off('error', onFail);
      this.dialing.delete(client);
      if (client.destroyed || !this.enabled || generation !== this.generation) {
        up.destroy();
        client.destroy();
        return;
      }
      const conn = new Connection(id, client, up, this.clock, this.random, (c) => this.conns.delete(c), this.onTraffic);
      this.conns.add(conn);
      conn.start({ upstream: this.toxics.upstream, downstream: this.toxics.downstream });
      client.resume();
      up.resume();
    });
  }

  findToxic(name: string): ToxicSpec | undefined {
    return this.toxics.upstream.find((t) => t.name === name) ?? this.toxics.downstream.find((t) => t.name === name);
  }

  addToxic(t: ToxicSpec): void {
    this.toxics[t.direction].push(t);
    for (const c of this.conns) c.link(t.direction)?.add(t);
  }

  updateToxic(t: ToxicSpec): void {
    const list = this.toxics[t.direction];
    const i = list.findIndex((x) => x.name === t.name);
    if (i >= 0) list[i] = t;
    for (const c of this.conns) c.link(t.direction)?.update(t);
  }

  removeToxic(t: ToxicSpec): void {
    const list = this.toxics[t.direction];
    const i = list.findIndex((x) => x.name === t.name);
    if (i >= 0) list.splice(i, 1);
    for (const c of [...this.conns]) c.link(t.direction)?.remove(t.name);
  }

  removeAllToxics(): void {
    for (const t of [...this.toxics.upstream, ...this.toxics.downstream]) this.removeToxic(t);
  }
}
