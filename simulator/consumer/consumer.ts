import { createSocket, type RemoteInfo } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { appendFileSync, writeFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { EventBus } from '../../core/events.ts';
import { decodeDatagram, encode, FrameDecoder, type DecodeResult, type Message, type StreamTick } from '../../runtime/stream/codec.ts';
import { SequenceTracker, type Anomaly, type Gap, type ReceivedTick, type Via } from './tracker.ts';

export interface ConsumerOptions {
  clock: Clock;
  host?: string;
  /** 0 picks a free port. */
  udpPort?: number;
  tcpPort?: number;
  /** How long a gap may wait for reordered or in-flight ticks before history is asked (default 20 ms). */
  gapGraceMs?: number;
  /** How often gaps are checked (default 5 ms). */
  gapCheckMs?: number;
  /** Largest single history request (default 10,000 ticks). */
  historyChunk?: number;
  /** A history request without an end marker after this long is asked again (default 2 s). */
  historyTimeoutMs?: number;
  /** Ask for ticks before the first one received (default true: a checker wants all of them). */
  backfillFromStart?: boolean;
  /** Per epoch, how many ticks' content the duplicate/conflict check keeps (default 2,000,000). */
  retainTicks?: number;
  /** Keep every received tick in memory for record() (default true). */
  keepTicks?: boolean;
  /** Append every newly received tick as NDJSON to this file. */
  recordFile?: string;
  /** UDP receive buffer (default 4 MiB: loss-free to ~200k datagrams/s on loopback). */
  recvBufferSize?: number;
  events?: EventBus;
  /** Called for every tick the first time it is received, whatever the path. */
  onTick?: (t: ReceivedTick) => void;
}

export interface ConsumerStats {
  udpTicks: number;
  tcpTicks: number;
  historyTicks: number;
  duplicates: number;
  conflicts: number;
  seqResets: number;
  badFrames: number;
  badFramesByCode: Record<string, number>;
  unexpectedFrames: number;
  acksSent: number;
  gapsDetected: number;
  historyRequests: number;
  historyErrors: number;
  historyRetries: number;
  tcpConnections: number;
}

export interface ConsumerRecord {
  ticks: ReceivedTick[];
  gaps: Gap[];
  anomalies: Anomaly[];
  stats: ConsumerStats;
}

export interface Consumer extends AsyncDisposable {
  readonly ready: Promise<{ udpPort: number; tcpPort: number; host: string }>;
  stats(): ConsumerStats;
  /** Open gaps (not yet filled). */
  gaps(): Gap[];
  missingCount(): number;
  /** Everything received, in arrival order, plus gaps and anomalies: the checker's input. */
  record(): ConsumerRecord;
  tracker: SequenceTracker;
  /** Ask the sender for a range now (by seq or time); resolves at the end marker. */
  requestHistory(req: { epoch: number; fromSeq?: number; toSeq?: number; fromMs?: number; toMs?: number }): Promise<HistoryAnswer>;
  stop(): Promise<void>;
}

export interface HistoryAnswer {
  id: number;
  ticks: StreamTick[];
  end: Extract<Message, { kind: 'hist_end' }>;
}

interface Pending {
  id: number;
  epoch: number;
  from?: number;
  to?: number;
  sentAt: number;
  ticks: StreamTick[];
  auto: boolean;
  resolve?: (a: HistoryAnswer) => void;
}

/**
 * The reference tick consumer: the receiving end of the runtime's tick stream
 * and a client library for a user's downstream service. It acks every ping at
 * once (that echo is how the sender sees a blackholed UDP path), accepts the
 * sender's TCP connection, and fills every sequence gap with history requests.
 */
export function startConsumer(opts: ConsumerOptions): Consumer {
  const { clock } = opts;
  const host = opts.host ?? '127.0.0.1';
  const grace = opts.gapGraceMs ?? 20;
  const checkMs = opts.gapCheckMs ?? 5;
  const chunk = opts.historyChunk ?? 10_000;
  const histTimeout = opts.historyTimeoutMs ?? 2000;
  const keep = opts.keepTicks ?? true;
  const tracker = new SequenceTracker({ backfillFromStart: opts.backfillFromStart ?? true, retainTicks: opts.retainTicks });
  const ticks: ReceivedTick[] = [];
  const stats: ConsumerStats = {
    udpTicks: 0,
    tcpTicks: 0,
    historyTicks: 0,
    duplicates: 0,
    conflicts: 0,
    seqResets: 0,
    badFrames: 0,
    badFramesByCode: {},
    unexpectedFrames: 0,
    acksSent: 0,
    gapsDetected: 0,
    historyRequests: 0,
    historyErrors: 0,
    historyRetries: 0,
    tcpConnections: 0,
  };
  const pending = new Map<number, Pending>();
  let nextReqId = 1;
  let tcpPeer: Socket | undefined;
  const sockets = new Set<Socket>();
  let stopped = false;
  let gapTimer: TimerHandle | undefined;
  if (opts.recordFile) writeFileSync(opts.recordFile, '');
  const emit = (type: string, data?: Record<string, unknown>) => opts.events?.emit('tick', type, data);

  const udp = createSocket({ type: 'udp4', recvBufferSize: opts.recvBufferSize ?? 4 * 1024 * 1024 });
  udp.on('error', (e) => emit('consumer.udp_error', { error: e.message }));

  function bad(r: DecodeResult & { ok: false }) {
    stats.badFrames++;
    stats.badFramesByCode[r.error.code] = (stats.badFramesByCode[r.error.code] ?? 0) + 1;
  }

  function onTick(st: StreamTick, via: Via) {
    const at = clock.now();
    const gapsBefore = tracker.openGaps();
    const outcome = tracker.accept(st, at);
    if (outcome === 'duplicate') {
      stats.duplicates++;
      return;
    }
    if (outcome === 'conflict') {
      stats.conflicts++;
      if (tracker.counts.seqReset > stats.seqResets) {
        stats.seqResets = tracker.counts.seqReset;
        emit('consumer.seq_reset', { epoch: st.epoch, seq: st.seq });
      }
      emit('consumer.seq_conflict', { epoch: st.epoch, seq: st.seq });
      return;
    }
    if (via === 'udp') stats.udpTicks++;
    else if (via === 'tcp') stats.tcpTicks++;
    else stats.historyTicks++;
    if (tracker.openGaps() > gapsBefore) stats.gapsDetected++;
    const rt: ReceivedTick = { epoch: st.epoch, seq: st.seq, tick: st.tick, via, receivedAt: at };
    if (keep) ticks.push(rt);
    if (opts.recordFile) record(rt);
    opts.onTick?.(rt);
  }

  // The record file gets one append per event-loop turn, not one per tick (a write syscall each).
  let recordLines: string[] = [];
  let recordFlushQueued = false;
  function flushRecord() {
    recordFlushQueued = false;
    if (recordLines.length === 0 || !opts.recordFile) return;
    const text = `${recordLines.join('\n')}\n`;
    recordLines = [];
    appendFileSync(opts.recordFile, text);
  }
  function record(rt: ReceivedTick) {
    recordLines.push(JSON.stringify(rt));
    if (!recordFlushQueued) {
      recordFlushQueued = true;
      setImmediate(flushRecord);
    }
  }

  function ackFor(m: Extract<Message, { kind: 'ping' }>): Buffer {
    return encode({ kind: 'ack', epoch: m.epoch, ping: m.ping, contiguous: tracker.contiguous(m.epoch), highest: tracker.highest(m.epoch) });
  }

  function handle(results: DecodeResult[], via: 'udp' | 'tcp', reply: (b: Buffer) => void, sock?: Socket) {
    for (const r of results) {
      if (!r.ok) {
        bad(r);
        continue;
      }
      const m = r.message;
      switch (m.kind) {
        case 'tick_batch':
          for (const st of m.ticks) onTick(st, via);
          break;
        case 'tick':
          onTick({ epoch: m.epoch, seq: m.seq, tick: m.tick }, via);
          break;
        case 'ping': {
          const before = tracker.openGaps();
          tracker.noteLastSeq(m.epoch, m.lastSeq, clock.now());
          if (tracker.openGaps() > before) stats.gapsDetected++;
          reply(ackFor(m));
          stats.acksSent++;
          break;
        }
        case 'hello':
          if (sock) tcpPeer = sock;
          tracker.noteHello(m.epoch, m.lastSeq, clock.now());
          break;
        case 'hist_tick': {
          const p = pending.get(m.id);
          const st = { epoch: m.epoch, seq: m.seq, tick: m.tick };
          if (p) p.ticks.push(st);
          onTick(st, 'history');
          break;
        }
        case 'hist_end':
          onHistEnd(m);
          break;
        default:
          stats.unexpectedFrames++;
      }
    }
  }

  function onHistEnd(m: Extract<Message, { kind: 'hist_end' }>) {
    const p = pending.get(m.id);
    if (!p) {
      stats.unexpectedFrames++;
      return;
    }
    pending.delete(m.id);
    const now = clock.now();
    if (m.status === 'error') {
      stats.historyErrors++;
      emit('consumer.history_error', { id: m.id, code: m.code, message: m.message });
    }
    if (p.auto && p.from !== undefined && p.to !== undefined) {
      // The sender answered for the whole range: whatever is still missing in it cannot be had.
      let stillMissing = 0;
      for (let q = p.from; q <= p.to; q++) if (!tracker.has(p.epoch, q)) stillMissing++;
      if (stillMissing > 0) {
        tracker.markUnfillable(p.epoch, p.from, p.to, `history answered ${m.status}${m.code ? ` ${m.code}` : ''}: ${stillMissing} ticks missing`, now);
        emit('consumer.gap_unfillable', { epoch: p.epoch, from: p.from, to: p.to, missing: stillMissing, code: m.code });
      }
    }
    p.resolve?.({ id: m.id, ticks: p.ticks, end: m });
  }

  function sendRequest(p: Pending, req: Message): boolean {
    if (!tcpPeer || tcpPeer.destroyed) return false;
    tcpPeer.write(encode(req));
    stats.historyRequests++;
    p.sentAt = clock.monotonic();
    return true;
  }

  function inFlight(epoch: number, seq: number): boolean {
    for (const p of pending.values()) if (p.auto && p.epoch === epoch && p.from! <= seq && seq <= p.to!) return true;
    return false;
  }

  function checkGaps() {
    if (stopped) return;
    gapTimer = clock.setTimer(checkMs, checkGaps);
    const now = clock.now();
    const mono = clock.monotonic();
    for (const p of [...pending.values()]) {
      if (mono - p.sentAt > histTimeout) {
        pending.delete(p.id);
        stats.historyRetries++;
        p.resolve?.({ id: p.id, ticks: p.ticks, end: { kind: 'hist_end', id: p.id, count: p.ticks.length, status: 'error', code: 'E_TIMEOUT', message: 'no end marker' } });
      }
    }
    if (!tcpPeer || tcpPeer.destroyed) return;
    for (const g of tracker.gaps()) {
      if (now - g.seenAt < grace || inFlight(g.epoch, g.from)) continue;
      const to = Math.min(g.to, g.from + chunk - 1);
      const id = nextReqId++;
      const p: Pending = { id, epoch: g.epoch, from: g.from, to, sentAt: mono, ticks: [], auto: true };
      pending.set(id, p);
      sendRequest(p, { kind: 'hist_req', id, epoch: g.epoch, fromSeq: g.from, toSeq: to });
    }
  }

  const server: Server = createServer((sock) => {
    sockets.add(sock);
    stats.tcpConnections++;
    sock.setNoDelay(true);
    const decoder = new FrameDecoder();
    sock.on('data', (chunkBuf: Buffer) => {
      handle(decoder.push(chunkBuf), 'tcp', (b) => sock.write(b), sock);
      if (decoder.isBroken) sock.destroy();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      sockets.delete(sock);
      if (tcpPeer === sock) tcpPeer = undefined;
    });
    emit('consumer.tcp_accepted', {});
  });

  udp.on('message', (buf: Buffer, rinfo: RemoteInfo) => {
    handle(decodeDatagram(buf), 'udp', (b) => udp.send(b, rinfo.port, rinfo.address));
  });

  const ready = (async () => {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(opts.udpPort ?? 0, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.tcpPort ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    gapTimer = clock.setTimer(checkMs, checkGaps);
    return { host, udpPort: udp.address().port, tcpPort: typeof a === 'object' && a ? a.port : 0 };
  })();

  let stopPromise: Promise<void> | undefined;
  const c: Consumer = {
    ready,
    tracker,
    stats: () => ({ ...stats, badFramesByCode: { ...stats.badFramesByCode }, seqResets: tracker.counts.seqReset }),
    gaps: () => tracker.gaps(),
    missingCount: () => tracker.missingCount(),
    record: () => ({ ticks: [...ticks], gaps: tracker.gaps(), anomalies: [...tracker.anomalies], stats: c.stats() }),
    requestHistory(req) {
      return new Promise<HistoryAnswer>((resolve) => {
        const id = nextReqId++;
        const p: Pending = { id, epoch: req.epoch, sentAt: clock.monotonic(), ticks: [], auto: false, resolve };
        pending.set(id, p);
        const msg = { kind: 'hist_req', id, ...req } as Message;
        if (!sendRequest(p, msg)) {
          pending.delete(id);
          resolve({ id, ticks: [], end: { kind: 'hist_end', id, count: 0, status: 'error', code: 'E_NO_TCP', message: 'no TCP connection from the sender' } });
        }
      });
    },
    stop() {
      stopPromise ??= (async () => {
        stopped = true;
        gapTimer?.cancel();
        flushRecord();
        await ready.catch(() => undefined);
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => server.close(() => r()));
        await new Promise<void>((r) => {
          try {
            udp.close(() => r());
          } catch {
            r();
          }
        });
      })();
      return stopPromise;
    },
    [Symbol.asyncDispose]() {
      return c.stop();
    },
  };
  return c;
}
