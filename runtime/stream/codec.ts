import { crc32 } from 'node:zlib';

/**
 * The tick-stream wire format (docs/protocol.md, "Tick stream protocol"), shared
 * by the streamer and the consumer. One frame is
 *
 *   magic 0xEA 0x7C | version 1 | kind (1 byte) | payload length (u32 BE) | crc32(payload) (u32 BE) | JSON payload
 *
 * A UDP datagram holds one or more whole frames; a TCP connection is a stream of
 * frames. The CRC is there because a flipped digit in a price is still valid
 * JSON: without it a garbled datagram would be recorded as a real tick.
 */
export const MAGIC0 = 0xea;
export const MAGIC1 = 0x7c;
export const VERSION = 1;
export const HEADER_BYTES = 12;
/** Larger payloads are refused; a tick is ~150 bytes, a UDP datagram stays far below 64 KiB. */
export const MAX_PAYLOAD_BYTES = 60_000;

/** The MqlTick fields the feed produces, plus the feed's own seq/epoch so checkers can match records. */
export interface Tick {
  symbol: string;
  bid: number;
  ask: number;
  last: number;
  volume: number;
  time_msc: number;
  flags: number;
  /** The feed's sequence number and epoch, carried through unchanged. */
  seq?: number;
  epoch?: number;
  /** The feed's stream name (its seq counts per stream). */
  stream?: string;
  volume_real?: number;
}

/** A tick as the stream carries it: the stream's own epoch and sequence number. */
export interface StreamTick {
  epoch: number;
  seq: number;
  tick: Tick;
}

export type Message =
  /** Sender → receiver, first frame on every TCP connection. */
  | { kind: 'hello'; epoch: number; stream: string; lastSeq: number }
  | { kind: 'tick'; epoch: number; seq: number; tick: Tick }
  /** Sender → receiver probe, every heartbeat interval on UDP (and on TCP while connected). `lastSeq` lets the receiver see a lost tail. */
  | { kind: 'ping'; epoch: number; ping: number; lastSeq: number }
  /** Receiver → sender, sent at once for every ping and on its own every heartbeat interval. */
  | { kind: 'ack'; epoch: number; ping: number; contiguous: number; highest: number }
  /** Receiver → sender over TCP: a range by seq (inclusive) or by time (time_msc, inclusive). */
  | { kind: 'hist_req'; id: number; epoch: number; fromSeq?: number; toSeq?: number; fromMs?: number; toMs?: number }
  | { kind: 'hist_tick'; id: number; epoch: number; seq: number; tick: Tick }
  /** Explicit end of a history answer: every request gets exactly one. */
  | { kind: 'hist_end'; id: number; count: number; status: 'ok' | 'error'; code?: string; message?: string; missing?: number };

export type MessageKind = Message['kind'];

const KIND_CODES: Record<MessageKind, number> = {
  hello: 1,
  tick: 2,
  ping: 3,
  ack: 4,
  hist_req: 5,
  hist_tick: 6,
  hist_end: 7,
};
const CODE_KINDS = new Map<number, MessageKind>(Object.entries(KIND_CODES).map(([k, v]) => [v, k as MessageKind]));

export type DecodeErrorCode = 'E_SHORT' | 'E_MAGIC' | 'E_VERSION' | 'E_KIND' | 'E_LENGTH' | 'E_CRC' | 'E_JSON' | 'E_SHAPE';

export interface DecodeError {
  code: DecodeErrorCode;
  message: string;
}

export type DecodeResult = { ok: true; message: Message } | { ok: false; error: DecodeError };

function payloadOf(msg: Message): unknown {
  const { kind: _kind, ...rest } = msg;
  return rest;
}

function payloadText(msg: Message): string {
  // Ticks are the hot path (tens of thousands a second): build their JSON without copying the message.
  if (msg.kind === 'tick') return `{"epoch":${msg.epoch},"seq":${msg.seq},"tick":${JSON.stringify(msg.tick)}}`;
  if (msg.kind === 'hist_tick') return `{"id":${msg.id},"epoch":${msg.epoch},"seq":${msg.seq},"tick":${JSON.stringify(msg.tick)}}`;
  return JSON.stringify(payloadOf(msg));
}

export function encode(msg: Message): Buffer {
  const text = payloadText(msg);
  const len = Buffer.byteLength(text, 'utf8');
  if (len > MAX_PAYLOAD_BYTES) throw new RangeError(`tick-stream frame of ${len} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + len);
  frame[0] = MAGIC0;
  frame[1] = MAGIC1;
  frame[2] = VERSION;
  frame[3] = KIND_CODES[msg.kind];
  frame.writeUInt32BE(len, 4);
  frame.write(text, HEADER_BYTES, 'utf8');
  frame.writeUInt32BE(crc32(frame.subarray(HEADER_BYTES)) >>> 0, 8);
  return frame;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isNat = (v: unknown): v is number => isInt(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isTick(v: unknown): v is Tick {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  return (
    typeof t.symbol === 'string' &&
    t.symbol.length > 0 &&
    t.symbol.length <= 64 &&
    isNum(t.bid) &&
    isNum(t.ask) &&
    isNum(t.last) &&
    isNum(t.volume) &&
    isNat(t.time_msc) &&
    isNat(t.flags) &&
    (t.seq === undefined || isNat(t.seq)) &&
    (t.epoch === undefined || isNat(t.epoch)) &&
    (t.stream === undefined || typeof t.stream === 'string') &&
    (t.volume_real === undefined || isNum(t.volume_real))
  );
}

/** The payload object is fresh from JSON.parse: tag it in place rather than copy it. */
function withKind(kind: MessageKind, p: Record<string, unknown>): Message {
  p.kind = kind;
  return p as unknown as Message;
}

/** Validate a decoded payload's shape: a well-formed frame with a wrong shape is as bad as a garbled one. */
export function validate(kind: MessageKind, p: Record<string, unknown>): Message | undefined {
  switch (kind) {
    case 'hello':
      return isNat(p.epoch) && typeof p.stream === 'string' && isNat(p.lastSeq) ? withKind(kind, p) : undefined;
    case 'tick':
      return isNat(p.epoch) && isInt(p.seq) && p.seq >= 1 && isTick(p.tick) ? withKind(kind, p) : undefined;
    case 'ping':
      return isNat(p.epoch) && isNat(p.ping) && isNat(p.lastSeq) ? withKind(kind, p) : undefined;
    case 'ack':
      return isNat(p.epoch) && isNat(p.ping) && isNat(p.contiguous) && isNat(p.highest) ? withKind(kind, p) : undefined;
    case 'hist_req': {
      const bySeq = p.fromSeq !== undefined || p.toSeq !== undefined;
      const byTime = p.fromMs !== undefined || p.toMs !== undefined;
      if (!isNat(p.id) || !isNat(p.epoch) || bySeq === byTime) return undefined;
      if (bySeq && !(isNat(p.fromSeq) && isNat(p.toSeq))) return undefined;
      if (byTime && !(isNat(p.fromMs) && isNat(p.toMs))) return undefined;
      return withKind(kind, p);
    }
    case 'hist_tick':
      return isNat(p.id) && isNat(p.epoch) && isInt(p.seq) && p.seq >= 1 && isTick(p.tick) ? withKind(kind, p) : undefined;
    case 'hist_end':
      return isNat(p.id) && isNat(p.count) && (p.status === 'ok' || p.status === 'error') ? withKind(kind, p) : undefined;
  }
}

interface FrameSplit {
  frame?: { kind: number; payload: Buffer };
  error?: DecodeError;
  /** Bytes consumed from the start of `buf`; 0 with no error means "need more bytes". */
  used: number;
}

function splitFrame(buf: Buffer, offset: number): FrameSplit {
  const avail = buf.length - offset;
  if (avail < HEADER_BYTES) return { used: 0 };
  if (buf[offset] !== MAGIC0 || buf[offset + 1] !== MAGIC1) return { used: 0, error: { code: 'E_MAGIC', message: 'bad magic bytes' } };
  if (buf[offset + 2] !== VERSION) return { used: 0, error: { code: 'E_VERSION', message: `unsupported version ${buf[offset + 2]}` } };
  const kind = buf[offset + 3]!;
  const len = buf.readUInt32BE(offset + 4);
  if (len > MAX_PAYLOAD_BYTES) return { used: 0, error: { code: 'E_LENGTH', message: `payload length ${len} exceeds ${MAX_PAYLOAD_BYTES}` } };
  if (avail < HEADER_BYTES + len) return { used: 0 };
  const payload = buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + len);
  if (crc32(payload) >>> 0 !== buf.readUInt32BE(offset + 8)) {
    return { used: HEADER_BYTES + len, error: { code: 'E_CRC', message: 'payload checksum mismatch' } };
  }
  return { used: HEADER_BYTES + len, frame: { kind, payload } };
}

function parsePayload(kindCode: number, payload: Buffer): DecodeResult {
  const kind = CODE_KINDS.get(kindCode);
  if (!kind) return { ok: false, error: { code: 'E_KIND', message: `unknown frame kind ${kindCode}` } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    return { ok: false, error: { code: 'E_JSON', message: `payload is not JSON: ${(e as Error).message}` } };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, error: { code: 'E_SHAPE', message: `${kind} payload is not an object` } };
  }
  const msg = validate(kind, parsed as Record<string, unknown>);
  if (!msg) return { ok: false, error: { code: 'E_SHAPE', message: `${kind} payload has missing or invalid fields` } };
  return { ok: true, message: msg };
}

/**
 * Decode one UDP datagram: every frame in it, in order. A datagram is
 * self-contained, so a truncated or garbled one yields an error result and
 * decoding stops there (the rest of it cannot be trusted to be aligned).
 */
export function decodeDatagram(buf: Buffer): DecodeResult[] {
  const out: DecodeResult[] = [];
  let off = 0;
  if (buf.length === 0) return [{ ok: false, error: { code: 'E_SHORT', message: 'empty datagram' } }];
  while (off < buf.length) {
    const s = splitFrame(buf, off);
    if (s.error) {
      out.push({ ok: false, error: s.error });
      return out;
    }
    if (!s.frame) {
      out.push({ ok: false, error: { code: 'E_SHORT', message: `truncated frame: ${buf.length - off} bytes left` } });
      return out;
    }
    out.push(parsePayload(s.frame.kind, s.frame.payload));
    off += s.used;
  }
  return out;
}

/**
 * Incremental decoder for a TCP byte stream. After a framing error (bad magic,
 * length) the stream cannot be re-aligned reliably, so the decoder reports the
 * error and the owner closes the connection; a CRC or JSON error inside a
 * well-delimited frame is reported and decoding continues.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private broken = false;

  push(chunk: Buffer): DecodeResult[] {
    if (this.broken) return [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: DecodeResult[] = [];
    let off = 0;
    while (off < this.buf.length) {
      const s = splitFrame(this.buf, off);
      if (s.error && s.used === 0) {
        this.broken = true;
        out.push({ ok: false, error: s.error });
        this.buf = Buffer.alloc(0);
        return out;
      }
      if (s.error) out.push({ ok: false, error: s.error });
      else if (s.frame) out.push(parsePayload(s.frame.kind, s.frame.payload));
      else break;
      off += s.used;
    }
    this.buf = off === 0 ? this.buf : this.buf.subarray(off);
    return out;
  }

  /** True once a framing error made the stream unusable. */
  get isBroken(): boolean {
    return this.broken;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Same tick content (ignoring the stream's seq/epoch): tells a duplicate from a sequence reset. */
export function sameTick(a: Tick, b: Tick): boolean {
  return (
    a.symbol === b.symbol &&
    a.time_msc === b.time_msc &&
    a.bid === b.bid &&
    a.ask === b.ask &&
    a.last === b.last &&
    a.volume === b.volume &&
    a.flags === b.flags &&
    a.seq === b.seq &&
    a.epoch === b.epoch &&
    a.stream === b.stream
  );
}
