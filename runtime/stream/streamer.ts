import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { applyTimeScale, type Config } from '../../core/config/index.ts';
import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { Random } from '../../core/random.ts';
import type { Alert, EventBus, Notifier } from '../../core/events.ts';
import { EaChaosError } from '../../core/errors.ts';
import { encode, decodeDatagram, FrameDecoder, MIN_BATCH_FRAME_BYTES, TickBatchWriter, type DecodeResult, type Message, type StreamTick, type Tick } from './codec.ts';
import type { TickHistory } from './history.ts';

export type StreamMode = 'udp' | 'tcp' | 'stopped';
export type TcpState = 'connecting' | 'connected' | 'down' | 'gave_up';

export interface StreamTarget {
  host: string;
  udpPort: number;
  tcpPort: number;
}

export interface TickStreamerOptions {
  clock: Clock;
  random: Random;
  /** The loaded config at full scale; the streamer applies `timeScale` itself. */
  config: Config;
  events: EventBus;
  notifier: Notifier;
  history: TickHistory;
  target: StreamTarget;
  /** Local address the UDP socket binds to (default 127.0.0.1). */
  bindHost?: string;
  /** Stream name carried in `hello`. */
  streamId?: string;
  /** Epoch of this stream; default a random 31-bit number, new for every start. */
  epoch?: number;
  /** Largest history answer; bigger requests get `E_RANGE_TOO_LARGE`. */
  maxHistoryTicks?: number;
  /** TCP is declared dead after this long without an ack (default 100 heartbeats, at least 1 s). */
  tcpTimeoutMs?: number;
  /** How long UDP must be acked without a miss before ticks go back to it (default 10 heartbeats). */
  udpRecoveryMs?: number;
  /** How long UDP may go unacked before its very first ack (default 10x the dead-path time, at least 500 ms). */
  startupGraceMs?: number;
  /**
   * Ticks published in one event-loop turn are packed into tick_batch frames, one datagram each, of at
   * most this many bytes (default 1200: below any path MTU, so never fragmented). Nothing waits to fill
   * a batch: whatever is queued when the turn ends goes out.
   */
  udpBatchBytes?: number;
  /** UDP socket send buffer. */
  sendBufferSize?: number;
}

export interface TickStreamerStats {
  published: number;
  sentUdp: number;
  sentTcp: number;
  /** UDP datagrams sent (ticks, pings): sentUdp / datagrams is the batching factor. */
  datagrams: number;
  /** Ticks not sent when published (streaming stopped or TCP congested); they stay in history. */
  unsent: number;
  resentLatest: number;
  udpSendErrors: number;
  badFrames: number;
  unexpectedFrames: number;
  switches: number;
  historyRequests: number;
  historyRejected: number;
  historyTicksServed: number;
  tcpConnects: number;
  tcpReconnectAttempts: number;
}

export interface TickStreamerStatus {
  mode: StreamMode;
  udpHealthy: boolean;
  tcp: TcpState;
  epoch: number;
  lastSeq: number;
  /** Local UDP port the streamer sends from (acks come back here). */
  udpPort: number;
  /** ms since the last fresh UDP ack. */
  udpAckAgeMs: number;
  stats: TickStreamerStats;
}

export interface TickStreamer extends AsyncDisposable {
  readonly epoch: number;
  /** Assign the next seq, store in history, keep as latest for its symbol, send on the current path. */
  publish(tick: Tick): StreamTick;
  status(): TickStreamerStatus;
  /** Resolves when the UDP socket is bound. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export class TickStreamError extends EaChaosError {}

const MAX_TCP_BUFFERED = 4 * 1024 * 1024;
/** tick_batch frames on TCP: no datagram limit, but a lost connection should not take a huge frame with it. */
const TCP_BATCH_BYTES = 16 * 1024;

/**
 * The runtime's tick streamer (seed §3.2). UDP carries ticks while the
 * receiver keeps acking the sender's pings; K missed heartbeats switch ticks to
 * the TCP connection, which is kept open at all times as the history and
 * control channel. Every published tick is in history first, so whatever a
 * path loses (a blackhole before detection, a stopped stream, a congested TCP
 * buffer) the consumer can fetch by seq: a false switch costs only duplicates.
 */
export function startTickStreamer(opts: TickStreamerOptions): TickStreamer {
  const { clock, events, notifier, history, target } = opts;
  const cfg = applyTimeScale(opts.config);
  const H = Math.max(1, cfg.tick.heartbeatIntervalMs);
  const deadAfterMs = H * cfg.tick.missedHeartbeats;
  // TCP is the fallback, so its dead-path timeout can be lenient: an event-loop stall must not take both paths down.
  const tcpTimeoutMs = opts.tcpTimeoutMs ?? Math.max(1000, H * 100);
  const udpRecoveryMs = opts.udpRecoveryMs ?? H * 10;
  const startupGraceMs = opts.startupGraceMs ?? Math.max(500, deadAfterMs * 10);
  const maxHistory = opts.maxHistoryTicks ?? 100_000;
  const retentionMs = cfg.tick.historyRetentionMs;
  const random = opts.random.fork('tick-streamer');
  const epoch = opts.epoch ?? random.int(1, 0x7fffffff);
  const streamId = opts.streamId ?? 'ticks';
  const fallbackEnabled = cfg.tick.udpToTcpFallback;
  const udpBatchBytes = Math.max(MIN_BATCH_FRAME_BYTES, opts.udpBatchBytes ?? 1200);

  const stats: TickStreamerStats = {
    published: 0,
    sentUdp: 0,
    sentTcp: 0,
    datagrams: 0,
    unsent: 0,
    resentLatest: 0,
    udpSendErrors: 0,
    badFrames: 0,
    unexpectedFrames: 0,
    switches: 0,
    historyRequests: 0,
    historyRejected: 0,
    historyTicksServed: 0,
    tcpConnects: 0,
    tcpReconnectAttempts: 0,
  };

  let seq = 0;
  const latest = new Map<string, StreamTick>();
  /** Symbols whose latest tick has not gone out on TCP because the socket buffer was full. */
  const dirty = new Set<string>();
  let stopped = false;
  let mode: StreamMode = 'udp';
  let udpHealthy = true;
  const startedAt = clock.monotonic();
  let lastUdpAckAt = startedAt;
  /** Since when acks have flowed without a gap longer than deadAfterMs (for the return to UDP). */
  let udpHealthySince = startedAt;
  let lastAckedPing = 0;
  let pingNo = 0;
  let tcp: Socket | undefined;
  let tcpState: TcpState = 'connecting';
  let lastTcpAckAt = startedAt;
  let reconnectTimer: TimerHandle | undefined;
  let failedAttempts = 0;
  let pingTimer: TimerHandle | undefined;
  let pruneTimer: TimerHandle | undefined;
  const badFrameReported = new Map<string, number>();

  const emit = (type: string, data?: Record<string, unknown>) => events.emit('tick', type, { epoch, ...data });
  const alert = (a: Omit<Alert, 'component'>) => {
    notifier.notify({ component: 'tick', ...a }).catch((e: unknown) => emit('tick.notify_failed', { code: a.code, error: String(e) }));
  };

  const udp: UdpSocket = createSocket('udp4');
  let lastUdpErrorEventAt = -Infinity;
  udp.on('error', (e) => {
    stats.udpSendErrors++;
    // At most one event a second: a socket error can repeat for every datagram.
    const now = clock.monotonic();
    if (now - lastUdpErrorEventAt >= 1000) {
      lastUdpErrorEventAt = now;
      emit('tick.udp_error', { error: e.message, total: stats.udpSendErrors });
    }
  });
  udp.on('message', (buf) => onFrames(decodeDatagram(buf), 'udp'));
  const ready = new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(0, opts.bindHost ?? '127.0.0.1', () => {
      udp.off('error', reject);
      if (opts.sendBufferSize) udp.setSendBufferSize(opts.sendBufferSize);
      // Not connect()ed, although that saves ~1 µs a datagram: a connected socket drops datagrams
      // from anyone but the receiver in the kernel, and garbage sent to the ack port must be counted.
      resolve();
    });
  });

  function localUdpPort(): number {
    try {
      return udp.address().port;
    } catch {
      return 0;
    }
  }

  function reportBad(via: string, r: DecodeResult & { ok: false }) {
    stats.badFrames++;
    // One event per error code per second: a garbage flood must not flood the bus.
    const key = `${via}:${r.error.code}`;
    const now = clock.monotonic();
    if ((badFrameReported.get(key) ?? -Infinity) + 1000 <= now) {
      badFrameReported.set(key, now);
      emit('tick.bad_frame', { via, code: r.error.code, message: r.error.message, total: stats.badFrames });
    }
  }

  function onFrames(results: DecodeResult[], via: 'udp' | 'tcp') {
    for (const r of results) {
      if (!r.ok) {
        reportBad(via, r);
        continue;
      }
      const m = r.message;
      if (m.kind === 'ack') {
        if (m.epoch !== epoch) {
          stats.unexpectedFrames++;
          continue;
        }
        if (via === 'udp') {
          if (m.ping > lastAckedPing) {
            const now = clock.monotonic();
            if (now - lastUdpAckAt > deadAfterMs) udpHealthySince = now;
            lastAckedPing = m.ping;
            lastUdpAckAt = now;
          }
        } else lastTcpAckAt = clock.monotonic();
      } else if (m.kind === 'hist_req' && via === 'tcp') {
        void serveHistory(m);
      } else {
        stats.unexpectedFrames++;
      }
    }
  }

  // Ticks published in one event-loop turn go out in tick_batch frames of up to udpBatchBytes, one
  // datagram each: a feed batch of a hundred ticks costs a handful of sendmsg calls and no JSON. The
  // batch is closed when the turn's microtasks run, so no tick waits for later ones. A lost datagram
  // loses a few ticks more, which gap fill fetches from history like any other loss.
  const udpBatch = new TickBatchWriter(udpBatchBytes);
  let udpQueue: Buffer[] = [];
  let udpQueued = 0;
  let udpFlushScheduled = false;
  const onUdpSent = (err: Error | null) => {
    if (err) stats.udpSendErrors++;
  };
  function sendDatagram() {
    if (udpQueue.length === 0) return;
    const frames = udpQueue;
    udpQueue = [];
    udpQueued = 0;
    if (stopped) return;
    stats.datagrams++;
    // Several small frames (a ping after a batch) share one sendmsg as an iovec, without a copy.
    udp.send(frames.length === 1 ? frames[0]! : frames, target.udpPort, target.host, onUdpSent);
  }
  function queueUdpFrame(frame: Buffer) {
    if (udpQueued + frame.length > udpBatchBytes) sendDatagram();
    udpQueue.push(frame);
    udpQueued += frame.length;
    scheduleUdpFlush();
  }
  /** Close the open batch so that frames queued after it keep their order on the wire. */
  function sealUdpBatch() {
    const f = udpBatch.take();
    if (f) queueUdpFrame(f);
  }
  function flushUdp() {
    udpFlushScheduled = false;
    sealUdpBatch();
    sendDatagram();
  }
  function scheduleUdpFlush() {
    if (!udpFlushScheduled) {
      udpFlushScheduled = true;
      queueMicrotask(flushUdp);
    }
  }
  function sendUdp(frame: Buffer) {
    sealUdpBatch();
    queueUdpFrame(frame);
  }
  function udpTick(st: StreamTick) {
    if (!udpBatch.add(epoch, st.seq, st.tick)) {
      sealUdpBatch();
      // A tick no batch can hold (a name over 64 bytes) goes alone as a JSON frame.
      if (!udpBatch.add(epoch, st.seq, st.tick)) return sendUdp(encode({ kind: 'tick', epoch, seq: st.seq, tick: st.tick }));
    }
    scheduleUdpFlush();
  }

  // TCP frames of one event-loop turn go out in one write: a write per tick is a syscall per tick.
  const tcpBatch = new TickBatchWriter(TCP_BATCH_BYTES);
  let tcpQueue: Buffer[] = [];
  let tcpQueued = 0;
  let tcpFlushScheduled = false;
  function sealTcpBatch() {
    const f = tcpBatch.take();
    if (f) {
      tcpQueue.push(f);
      tcpQueued += f.length;
    }
  }
  function flushTcp() {
    tcpFlushScheduled = false;
    sealTcpBatch();
    const frames = tcpQueue;
    tcpQueue = [];
    tcpQueued = 0;
    if (frames.length === 0 || !tcp || tcpState !== 'connected') return;
    tcp.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }
  function scheduleTcpFlush() {
    if (tcpQueued >= 64 * 1024) flushTcp();
    else if (!tcpFlushScheduled) {
      tcpFlushScheduled = true;
      queueMicrotask(flushTcp);
    }
  }
  function tcpWrite(frame: Buffer): boolean {
    if (!tcp || tcpState !== 'connected') return false;
    if (tcp.writableLength + tcpQueued > MAX_TCP_BUFFERED) return false;
    sealTcpBatch();
    tcpQueue.push(frame);
    tcpQueued += frame.length;
    scheduleTcpFlush();
    return true;
  }
  function tcpTick(st: StreamTick): boolean {
    if (!tcp || tcpState !== 'connected') return false;
    if (tcp.writableLength + tcpQueued > MAX_TCP_BUFFERED) return false;
    if (!tcpBatch.add(epoch, st.seq, st.tick)) {
      sealTcpBatch();
      if (!tcpBatch.add(epoch, st.seq, st.tick)) return tcpWrite(encode({ kind: 'tick', epoch, seq: st.seq, tick: st.tick }));
    }
    scheduleTcpFlush();
    return true;
  }

  function sendTick(st: StreamTick): boolean {
    if (mode === 'udp') {
      udpTick(st);
      stats.sentUdp++;
      return true;
    }
    if (mode === 'tcp') {
      if (tcpTick(st)) {
        stats.sentTcp++;
        return true;
      }
      dirty.add(st.tick.symbol);
    }
    stats.unsent++;
    return false;
  }

  function resendLatest() {
    for (const st of latest.values()) {
      if (sendTick(st)) stats.resentLatest++;
    }
    dirty.clear();
  }

  function setMode(next: StreamMode, reason: string) {
    if (next === mode || stopped) return;
    const from = mode;
    mode = next;
    stats.switches++;
    emit('tick.switched', { from, to: next, reason, udpAckAgeMs: clock.monotonic() - lastUdpAckAt, lastSeq: seq });
    if (next === 'stopped') {
      emit('tick.stream_stopped', { reason, lastSeq: seq });
      alert({ severity: 'critical', code: 'tick.stream_stopped', message: `tick streaming stopped: UDP and TCP both down (${reason})`, data: { epoch, lastSeq: seq } });
      return;
    }
    if (from === 'stopped') {
      emit('tick.stream_resumed', { via: next, lastSeq: seq });
      alert({ severity: 'warning', code: 'tick.stream_resumed', message: `tick streaming resumed over ${next}`, data: { epoch, lastSeq: seq } });
    }
    // Resume from the latest tick per symbol; everything between is in history.
    if (next === 'tcp' || from === 'stopped') resendLatest();
  }

  function recompute(reason: string) {
    if (udpHealthy) setMode('udp', reason);
    else if (fallbackEnabled && tcpState === 'connected') setMode('tcp', reason);
    else setMode('stopped', reason);
  }

  function onPingTimer() {
    if (stopped) return;
    pingTimer = clock.setTimer(H, onPingTimer);
    pingNo++;
    sendUdp(encode({ kind: 'ping', epoch, ping: pingNo, lastSeq: seq }));
    const now = clock.monotonic();
    if (tcpState === 'connected') {
      tcpWrite(encode({ kind: 'ping', epoch, ping: pingNo, lastSeq: seq }));
      if (now - lastTcpAckAt > tcpTimeoutMs) {
        emit('tick.tcp_timeout', { ackAgeMs: now - lastTcpAckAt });
        tcp?.destroy(new Error('no ack within tcpTimeoutMs'));
      }
    }
    const ackAge = now - lastUdpAckAt;
    // Before the first ack ever arrives (start-up, a consumer still binding, a slow first JIT), give the
    // path a longer grace: declaring it dead there only produces a stopped-stream alert for nothing.
    const deadAfter = lastAckedPing === 0 ? startupGraceMs : deadAfterMs;
    if (udpHealthy && ackAge > deadAfter) {
      udpHealthy = false;
      emit('tick.udp_down', { ackAgeMs: ackAge, missedHeartbeats: cfg.tick.missedHeartbeats });
      recompute('udp_heartbeats_missed');
    } else if (!udpHealthy && ackAge <= deadAfterMs && now - udpHealthySince >= udpRecoveryMs) {
      udpHealthy = true;
      emit('tick.udp_up', { healthyForMs: now - udpHealthySince });
      recompute('udp_healthy');
    }
  }

  function connectTcp() {
    if (stopped) return;
    reconnectTimer = undefined;
    tcpState = tcpState === 'gave_up' ? 'gave_up' : 'connecting';
    const sock = connect({ host: target.host, port: target.tcpPort, noDelay: true });
    let settled = false;
    const connectTimer = clock.setTimer(Math.max(100, Math.min(cfg.tick.reconnectIntervalMs, 1000)), () => {
      if (!settled) sock.destroy(new Error('connect timeout'));
    });
    const decoder = new FrameDecoder();
    sock.on('connect', () => {
      settled = true;
      connectTimer.cancel();
      if (stopped) {
        sock.destroy();
        return;
      }
      tcp = sock;
      tcpState = 'connected';
      failedAttempts = 0;
      stats.tcpConnects++;
      lastTcpAckAt = clock.monotonic();
      sock.write(encode({ kind: 'hello', epoch, stream: streamId, lastSeq: seq }));
      emit('tick.tcp_connected', { port: target.tcpPort });
      recompute('tcp_connected');
      if (mode === 'tcp') resendLatest();
    });
    sock.on('data', (chunk: Buffer) => {
      onFrames(decoder.push(chunk), 'tcp');
      if (decoder.isBroken) sock.destroy(new Error('tick stream framing error'));
    });
    sock.on('drain', () => {
      if (mode !== 'tcp' || dirty.size === 0) return;
      for (const sym of [...dirty]) {
        const st = latest.get(sym);
        dirty.delete(sym);
        if (st && tcpTick(st)) stats.resentLatest++;
      }
    });
    sock.on('error', () => {
      /* handled on close */
    });
    sock.on('close', () => {
      connectTimer.cancel();
      settled = true;
      if (tcp === sock) tcp = undefined;
      if (stopped) return;
      const wasConnected = tcpState === 'connected';
      if (wasConnected) emit('tick.tcp_disconnected', {});
      else failedAttempts++;
      if (failedAttempts >= cfg.tick.maxReconnectAttempts) {
        if (tcpState !== 'gave_up') {
          tcpState = 'gave_up';
          emit('tick.tcp_gave_up', { attempts: failedAttempts });
          alert({ severity: 'critical', code: 'tick.tcp_gave_up', message: `TCP tick path: ${failedAttempts} reconnect attempts failed`, data: { epoch } });
        }
        recompute('tcp_gave_up');
        return;
      }
      tcpState = 'down';
      recompute('tcp_down');
      // First reconnect at once after a drop, then every reconnectIntervalMs (seed §3.2).
      const delay = wasConnected ? 0 : cfg.tick.reconnectIntervalMs;
      stats.tcpReconnectAttempts++;
      emit('tick.tcp_reconnecting', { attempt: failedAttempts + 1, of: cfg.tick.maxReconnectAttempts, inMs: delay });
      reconnectTimer = clock.setTimer(delay, connectTcp);
    });
  }

  async function serveHistory(m: Extract<Message, { kind: 'hist_req' }>) {
    stats.historyRequests++;
    const reject = (code: string, message: string) => {
      stats.historyRejected++;
      emit('tick.history_rejected', { id: m.id, code, message });
      flushTcp();
      tcp?.write(encode({ kind: 'hist_end', id: m.id, count: 0, status: 'error', code, message }));
    };
    let rows: StreamTick[];
    let expected: number | undefined;
    try {
      if (m.fromSeq !== undefined && m.toSeq !== undefined) {
        if (m.fromSeq < 1 || m.toSeq < m.fromSeq) return reject('E_RANGE_INVALID', `seq range ${m.fromSeq}..${m.toSeq} is empty or starts below 1`);
        if (m.epoch === epoch && m.toSeq > seq) return reject('E_RANGE_UNAVAILABLE', `seq ${m.toSeq} not published yet (last ${seq})`);
        if (m.toSeq - m.fromSeq + 1 > maxHistory) return reject('E_RANGE_TOO_LARGE', `${m.toSeq - m.fromSeq + 1} ticks asked, at most ${maxHistory}`);
        expected = m.toSeq - m.fromSeq + 1;
        rows = await history.bySeq(m.epoch, m.fromSeq, m.toSeq, maxHistory);
      } else {
        const from = m.fromMs!;
        const to = m.toMs!;
        if (to < from) return reject('E_RANGE_INVALID', `time range ${from}..${to} is empty`);
        // Retention is enforced by pruning on store time; tick times may be simulated, so they are not compared to the clock.
        rows = await history.byTime(m.epoch, from, to, maxHistory + 1);
        if (rows.length > maxHistory) return reject('E_RANGE_TOO_LARGE', `more than ${maxHistory} ticks in ${from}..${to}`);
        if (rows.length === 0) return reject('E_RANGE_UNAVAILABLE', `no ticks of epoch ${m.epoch} with time in ${from}..${to} (unknown epoch, pruned, or none)`);
      }
    } catch (e) {
      return reject('E_HISTORY_FAILED', `history store failed: ${(e as Error).message}`);
    }
    if (expected !== undefined && rows.length === 0 && expected > 0) {
      return reject('E_RANGE_UNAVAILABLE', `no ticks of epoch ${m.epoch} in ${m.fromSeq}..${m.toSeq} (unknown epoch or pruned)`);
    }
    sealTcpBatch();
    for (const r of rows) {
      if (!tcp || tcpState !== 'connected') return;
      // Straight to the socket, past the congestion limit: an answer is finite and must end with its marker.
      tcpQueue.push(encode({ kind: 'hist_tick', id: m.id, epoch: r.epoch, seq: r.seq, tick: r.tick }));
      if (tcpQueue.length >= 512) flushTcp();
    }
    flushTcp();
    stats.historyTicksServed += rows.length;
    const missing = expected === undefined ? 0 : expected - rows.length;
    if (missing > 0) emit('tick.history_incomplete', { id: m.id, missing });
    tcp?.write(encode({ kind: 'hist_end', id: m.id, count: rows.length, status: 'ok', missing }));
  }

  function schedulePrune() {
    pruneTimer = clock.setTimer(Math.max(1000, Math.min(60_000, retentionMs / 24)), () => {
      if (stopped) return;
      history.prune(clock.now() - retentionMs).then(
        (n) => {
          if (n > 0) emit('tick.history_pruned', { rows: n });
        },
        (e: unknown) => emit('tick.history_prune_failed', { error: String(e) }),
      );
      schedulePrune();
    });
  }

  void ready.then(() => {
    if (stopped) return;
    emit('tick.started', { target, heartbeatIntervalMs: H, missedHeartbeats: cfg.tick.missedHeartbeats });
    connectTcp();
    pingTimer = clock.setTimer(0, onPingTimer);
    schedulePrune();
  });

  let stopPromise: Promise<void> | undefined;
  const handle: TickStreamer = {
    epoch,
    ready,
    publish(tick: Tick): StreamTick {
      if (stopped) throw new TickStreamError('E_STREAM_STOPPED', 'publish() after stop()');
      const st: StreamTick = { epoch, seq: ++seq, tick };
      stats.published++;
      history.append(st, clock.now());
      latest.set(tick.symbol, st);
      sendTick(st);
      return st;
    },
    status(): TickStreamerStatus {
      return { mode, udpHealthy, tcp: tcpState, epoch, lastSeq: seq, udpPort: localUdpPort(), udpAckAgeMs: clock.monotonic() - lastUdpAckAt, stats: { ...stats } };
    },
    stop(): Promise<void> {
      stopPromise ??= (async () => {
        stopped = true;
        pingTimer?.cancel();
        reconnectTimer?.cancel();
        pruneTimer?.cancel();
        tcp?.destroy();
        await new Promise<void>((r) => {
          try {
            udp.close(() => r());
          } catch {
            r();
          }
        });
        emit('tick.streamer_stopped', { lastSeq: seq });
      })();
      return stopPromise;
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  return handle;
}
