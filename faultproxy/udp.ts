import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { AddressError, joinHostPort, listenErrorText, resolveListen, splitHostPort } from './address.ts';
import { Impairer, type Emission, type Impairments } from './impairer.ts';
import { ApiError } from './proxy.ts';
import type { StreamDirection } from './toxics.ts';

/** A client that sent nothing for this long loses its upstream socket. */
const SESSION_IDLE_MS = 60_000;
/** Held-back (reordered) datagrams come out when the stream has been quiet this long. */
const REORDER_FLUSH_MS = 50;

/**
 * The default receive buffer overflows at a few hundred small datagrams in a
 * burst; 4 MiB keeps loopback loss-free to ~200k datagrams/s (measured-pitfalls.md),
 * so the only losses are the ones we decide.
 */
function enlargeBuffers(socket: DgramSocket): void {
  try {
    socket.setRecvBufferSize(4 << 20);
    socket.setSendBufferSize(4 << 20);
  } catch {
    // Capped by net.core.rmem_max; the default still works, with more kernel drops under bursts.
  }
}

interface Session {
  key: string;
  address: string;
  port: number;
  socket: DgramSocket;
  lastSeen: number;
}

interface Datagram {
  data: Buffer;
  session: Session;
}

/**
 * UDP relay (our extension; Toxiproxy has none): each client address gets its
 * own upstream socket, so replies go back to the client that sent the request.
 * Each direction has its own seeded Impairer.
 */
export class UdpRelay {
  listen: string;
  upstream: string;
  enabled = false;
  private socket: DgramSocket | undefined;
  private readonly sessions = new Map<string, Session>();
  readonly impairers: Record<StreamDirection, Impairer<Datagram>>;
  private readonly flushTimers: Partial<Record<StreamDirection, TimerHandle>> = {};
  private readonly pendingTimers = new Set<TimerHandle>();
  private gcTimer: TimerHandle | undefined;
  private upstreamHost = '';
  private upstreamPort = 0;

  constructor(
    readonly name: string,
    listen: string,
    upstream: string,
    private readonly clock: Clock,
    random: Random,
    private readonly onTraffic: () => void = () => {},
  ) {
    this.listen = listen;
    this.upstream = upstream;
    this.impairers = { upstream: new Impairer(random.fork('upstream')), downstream: new Impairer(random.fork('downstream')) };
  }

  toJson(): Record<string, unknown> {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      impairments: { upstream: this.impairers.upstream.impairments, downstream: this.impairers.downstream.impairments },
      stats: { upstream: { ...this.impairers.upstream.stats }, downstream: { ...this.impairers.downstream.stats } },
      sessions: this.sessions.size,
    };
  }

  async start(): Promise<void> {
    if (this.enabled) return;
    let resolved;
    let up;
    try {
      resolved = await resolveListen(this.listen);
      up = splitHostPort(this.upstream);
    } catch (e) {
      throw new ApiError(500, e instanceof AddressError ? `listen udp: ${e.message}` : String(e));
    }
    const upHost = up.host === '' || up.host === 'localhost' ? '127.0.0.1' : up.host;
    const upPort = Number(up.port);
    if (!Number.isInteger(upPort) || upPort <= 0 || upPort > 65535) throw new ApiError(500, `address ${this.upstream}: invalid port`);
    const ipv6 = isIPv6(resolved.host);
    const socket = createSocket({ type: ipv6 ? 'udp6' : 'udp4', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => reject(new ApiError(500, listenErrorText(err, resolved.text, 'udp'))));
      socket.bind({ address: resolved.host, port: resolved.port, exclusive: true }, () => resolve());
    }).catch((e: unknown) => {
      socket.close();
      throw e;
    });
    socket.on('error', () => {});
    enlargeBuffers(socket);
    socket.on('message', (data, rinfo) => {
      this.onTraffic();
      this.fromClient(data, rinfo.address, rinfo.port);
    });
    const a = socket.address();
    this.listen = joinHostPort(a.address, a.port);
    this.upstreamHost = upHost;
    this.upstreamPort = upPort;
    this.socket = socket;
    this.enabled = true;
    this.scheduleGc();
  }

  stop(): void {
    this.enabled = false;
    this.socket?.close();
    this.socket = undefined;
    for (const s of this.sessions.values()) s.socket.close();
    this.sessions.clear();
    for (const t of this.pendingTimers) t.cancel();
    this.pendingTimers.clear();
    for (const dir of ['upstream', 'downstream'] as const) {
      this.flushTimers[dir]?.cancel();
      this.flushTimers[dir] = undefined;
      this.impairers[dir].flush();
    }
    this.gcTimer?.cancel();
    this.gcTimer = undefined;
  }

  setImpairments(dir: StreamDirection, c: Impairments): void {
    this.impairers[dir].impairments = c;
    // Anything held back for reordering goes out now rather than waiting on a config that changed.
    if (c.reorder <= 0) this.deliver(dir, this.impairers[dir].flush());
  }

  private scheduleGc(): void {
    this.gcTimer = this.clock.setTimer(SESSION_IDLE_MS / 2, () => {
      const now = this.clock.monotonic();
      for (const s of [...this.sessions.values()]) {
        if (now - s.lastSeen > SESSION_IDLE_MS) {
          s.socket.close();
          this.sessions.delete(s.key);
        }
      }
      if (this.enabled) this.scheduleGc();
    });
  }

  private session(address: string, port: number): Session | undefined {
    const key = `${address}|${port}`;
    let s = this.sessions.get(key);
    if (!s) {
      const socket = createSocket(isIPv6(this.upstreamHost) ? 'udp6' : 'udp4');
      socket.on('error', () => {});
      socket.bind(0, () => enlargeBuffers(socket));
      const session: Session = { key, address, port, socket, lastSeen: this.clock.monotonic() };
      socket.on('message', (data) => {
        this.onTraffic();
        this.process('downstream', { data, session });
      });
      this.sessions.set(key, session);
      s = session;
    }
    s.lastSeen = this.clock.monotonic();
    return s;
  }

  private fromClient(data: Buffer, address: string, port: number): void {
    const s = this.session(address, port);
    if (s) this.process('upstream', { data, session: s });
  }

  private process(dir: StreamDirection, d: Datagram): void {
    if (!this.enabled) return;
    const imp = this.impairers[dir];
    this.deliver(dir, imp.process(d));
    this.flushTimers[dir]?.cancel();
    this.flushTimers[dir] = undefined;
    if (imp.holding > 0) {
      this.flushTimers[dir] = this.clock.setTimer(REORDER_FLUSH_MS, () => {
        this.flushTimers[dir] = undefined;
        this.deliver(dir, imp.flush());
      });
    }
  }

  private deliver(dir: StreamDirection, out: Emission<Datagram>[]): void {
    for (const e of out) {
      if (e.delayMs <= 0) this.send(dir, e.item);
      else {
        const t = this.clock.setTimer(e.delayMs, () => {
          this.pendingTimers.delete(t);
          this.send(dir, e.item);
        });
        this.pendingTimers.add(t);
      }
    }
  }

  private send(dir: StreamDirection, d: Datagram): void {
    if (!this.enabled) return;
    try {
      if (dir === 'upstream') d.session.socket.send(d.data, this.upstreamPort, this.upstreamHost);
      else this.socket?.send(d.data, d.session.port, d.session.address);
    } catch {
      // A session closed by GC or stop(): the datagram is lost, as UDP allows.
    }
  }
}
