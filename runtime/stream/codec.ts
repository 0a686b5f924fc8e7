import { crc32 } from 'node:zlib';

/**
 * The tick-stream wire format (docs/protocol.md, "Tick stream protocol"), shared
 * by the streamer and the consumer. One frame is
 *
 *   magic 0xEA 0x7C | version 1 | kind (1 byte) | payload length (u32 BE) | crc32(payload) (u32 BE) | payload
 *
 * The payload is JSON, except in `tick_batch` frames (binary, see TickBatchWriter):
 * ticks are the hot path, and JSON costs ~2 µs a tick at each end.
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
  /** Several ticks of one epoch in one binary frame, each with its own seq (what the streamer sends). */
  | { kind: 'tick_batch'; epoch: number; ticks: StreamTick[] }
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
  tick_batch: 8,
};
const CODE_KINDS = new Map<number, MessageKind>(Object.entries(KIND_CODES).map(([k, v]) => [v, k as MessageKind]));

export type DecodeErrorCode = 'E_SHORT' | 'E_MAGIC' | 'E_VERSION' | 'E_KIND' | 'E_LENGTH' | 'E_CRC' | 'E_JSON' | 'E_SHAPE' | 'E_BATCH';

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
  if (msg.kind === 'tick_batch') return encodeTickBatch(msg.epoch, msg.ticks);
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
      // The kind byte is outside the CRC, and a one-bit flip turns hist_tick (6) into tick (2): a tick
      // payload is hist_tick's minus its `id`, so an `id` here means a garbled kind, not a live tick.
      return isNat(p.epoch) && isInt(p.seq) && p.seq >= 1 && isTick(p.tick) && !('id' in p) ? withKind(kind, p) : undefined;
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
    case 'tick_batch':
      // Binary only (decodeTickBatch): a JSON payload under this kind is malformed.
      return undefined;
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
  if (kindCode === TICK_BATCH_CODE) return decodeTickBatch(payload);
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

// ---------- tick_batch: the binary batch frame ----------
//
// Payload, little-endian:
//   epoch f64 | baseSeq f64 | count u16 | count × tick
// tick:
//   seqDelta i32 (seq = baseSeq + seqDelta) | symbolRef | presence u8 | bid f64 | ask f64 | last f64 |
//   volume f64 | time_msc f64 | flags u32 | [feed seq f64] | [feed epoch f64] | [streamRef] | [volume_real f64]
// presence bits: 1 feed seq, 2 feed epoch, 4 stream, 8 volume_real.
// A string ref is one byte r: r >= 0x80 names entry r - 0x80 of the frame's string table; otherwise
// r (1..64) is a byte length and that many UTF-8 bytes follow, which become the next table entry.
// Each symbol's name is therefore written once per frame. Doubles carry prices exactly (JSON
// numbers are doubles too).

const TICK_BATCH_CODE = 8;
const BATCH_HEAD = 8 + 8 + 2;
/** Bytes of the fixed part of one tick: seqDelta, presence, 5 doubles, flags. */
const TICK_FIXED = 4 + 1 + 40 + 4;
const MAX_STRING_BYTES = 64;
const MAX_TABLE = 0x7f;
/** Largest tick with every optional field and both strings inline. */
export const MAX_BATCH_TICK_BYTES = TICK_FIXED + 2 * (1 + MAX_STRING_BYTES) + 24;
const MAX_BATCH_TICKS = 0xffff;
/** The smallest frame size a TickBatchWriter accepts: room for one tick of any shape. */
export const MIN_BATCH_FRAME_BYTES = HEADER_BYTES + BATCH_HEAD + MAX_BATCH_TICK_BYTES;

const ASCII = /^[\x00-\x7f]*$/;
/** Names already found to fit: a stream has a handful, and this runs twice per tick. */
const fittingNames = new Set<string>();

function stringFits(s: string): boolean {
  if (fittingNames.has(s)) return true;
  // A name of 1..64 UTF-8 bytes; ASCII names (all real symbols) skip the check that it survives UTF-8
  // (a lone surrogate would not, and JSON carries those). The regex is hoisted: a literal here was a
  // new RegExp object per call, two per tick.
  if (s.length === 0 || s.length > MAX_STRING_BYTES) return false;
  if (ASCII.test(s)) return remember(s);
  const b = Buffer.from(s, 'utf8');
  return b.length <= MAX_STRING_BYTES && b.toString('utf8') === s && remember(s);
}
function remember(s: string): true {
  if (fittingNames.size >= 1024) fittingNames.clear();
  fittingNames.add(s);
  return true;
}

/** Whether a tick can travel in a tick_batch; the rare one that cannot goes as a JSON `tick` frame. */
export function batchable(seqDelta: number, t: Tick): boolean {
  return (
    seqDelta >= -0x80000000 &&
    seqDelta <= 0x7fffffff &&
    Number.isInteger(t.flags) &&
    t.flags >= 0 &&
    t.flags <= 0xffffffff &&
    stringFits(t.symbol) &&
    (t.stream === undefined || stringFits(t.stream))
  );
}

/**
 * Builds tick_batch frames of at most `maxBytes` (header included), tick by tick, without an
 * intermediate array: the streamer adds every tick of an event-loop turn, then takes the frame.
 */
export class TickBatchWriter {
  private buf: Buffer;
  private off = 0;
  private n = 0;
  private baseSeq = 0;
  private epoch = 0;
  private readonly strings: string[] = [];

  constructor(readonly maxBytes: number) {
    if (maxBytes < MIN_BATCH_FRAME_BYTES) throw new RangeError(`tick_batch frames need at least ${MIN_BATCH_FRAME_BYTES} bytes, got ${maxBytes}`);
    if (maxBytes > HEADER_BYTES + MAX_PAYLOAD_BYTES) throw new RangeError(`tick_batch frames are at most ${HEADER_BYTES + MAX_PAYLOAD_BYTES} bytes`);
    this.buf = Buffer.allocUnsafe(maxBytes);
  }

  get count(): number {
    return this.n;
  }

  /**
   * Add a tick; false when it does not fit in this frame (take() it and add again) or cannot be
   * batched at all (see batchable(); then false on an empty frame too).
   */
  add(epoch: number, seq: number, t: Tick): boolean {
    if (this.n === 0) {
      if (!batchable(0, t)) return false;
      this.baseSeq = seq;
      this.epoch = epoch;
      this.off = HEADER_BYTES + BATCH_HEAD;
      this.buf.writeDoubleLE(epoch, HEADER_BYTES);
      this.buf.writeDoubleLE(seq, HEADER_BYTES + 8);
      this.strings.length = 0;
    } else {
      if (this.n >= MAX_BATCH_TICKS || this.off + MAX_BATCH_TICK_BYTES > this.maxBytes) return false;
      if (this.epoch !== epoch || !batchable(seq - this.baseSeq, t)) return false;
    }
    const b = this.buf;
    let o = this.off;
    b.writeInt32LE(seq - this.baseSeq, o);
    o = this.writeString(t.symbol, o + 4);
    const presence = (t.seq !== undefined ? 1 : 0) | (t.epoch !== undefined ? 2 : 0) | (t.stream !== undefined ? 4 : 0) | (t.volume_real !== undefined ? 8 : 0);
    b[o] = presence;
    b.writeDoubleLE(t.bid, o + 1);
    b.writeDoubleLE(t.ask, o + 9);
    b.writeDoubleLE(t.last, o + 17);
    b.writeDoubleLE(t.volume, o + 25);
    b.writeDoubleLE(t.time_msc, o + 33);
    b.writeUInt32LE(t.flags, o + 41);
    o += 45;
    if (presence & 1) o = b.writeDoubleLE(t.seq!, o);
    if (presence & 2) o = b.writeDoubleLE(t.epoch!, o);
    if (presence & 4) o = this.writeString(t.stream!, o);
    if (presence & 8) o = b.writeDoubleLE(t.volume_real!, o);
    this.off = o;
    this.n++;
    return true;
  }

  private writeString(s: string, o: number): number {
    const strings = this.strings;
    for (let i = 0; i < strings.length; i++) {
      if (strings[i] === s) {
        this.buf[o] = 0x80 + i;
        return o + 1;
      }
    }
    const len = this.buf.write(s, o + 1, 'utf8');
    this.buf[o] = len;
    if (strings.length < MAX_TABLE) strings.push(s);
    return o + 1 + len;
  }

  /** The finished frame (undefined when empty); the writer starts a new one in a fresh buffer. */
  take(): Buffer | undefined {
    if (this.n === 0) return undefined;
    const b = this.buf;
    const len = this.off - HEADER_BYTES;
    b.writeUInt16LE(this.n, HEADER_BYTES + 16);
    b[0] = MAGIC0;
    b[1] = MAGIC1;
    b[2] = VERSION;
    b[3] = TICK_BATCH_CODE;
    b.writeUInt32BE(len, 4);
    const frame = b.subarray(0, this.off);
    frame.writeUInt32BE(crc32(frame.subarray(HEADER_BYTES)) >>> 0, 8);
    // The frame may still be in flight (UDP send, TCP write): never reuse its bytes.
    this.buf = Buffer.allocUnsafe(this.maxBytes);
    this.n = 0;
    this.off = 0;
    return frame;
  }
}

/** One tick_batch frame holding `ticks` (tests and one-off senders; the streamer uses TickBatchWriter). */
export function encodeTickBatch(epoch: number, ticks: readonly StreamTick[]): Buffer {
  const w = new TickBatchWriter(HEADER_BYTES + Math.min(MAX_PAYLOAD_BYTES, BATCH_HEAD + Math.max(1, ticks.length) * MAX_BATCH_TICK_BYTES));
  for (const st of ticks) {
    if (!w.add(epoch, st.seq, st.tick)) throw new RangeError(`tick seq ${st.seq} cannot be put in a tick_batch frame (too many ticks, seq too far apart, or a name over 64 bytes)`);
  }
  if (w.count === 0) throw new RangeError('a tick_batch frame needs at least one tick');
  return w.take()!;
}

const batchError = (message: string): DecodeResult => ({ ok: false, error: { code: 'E_BATCH', message: `tick_batch: ${message}` } });

/**
 * Decode a tick_batch payload (CRC already checked). Any inconsistency rejects the whole frame:
 * its ticks then count as lost and gap fill fetches them, rather than a half-trusted frame
 * delivering garbage.
 */
export function decodeTickBatch(p: Buffer): DecodeResult {
  if (p.length < BATCH_HEAD) return batchError(`payload of ${p.length} bytes is shorter than its ${BATCH_HEAD}-byte head`);
  const epoch = p.readDoubleLE(0);
  const baseSeq = p.readDoubleLE(8);
  const count = p.readUInt16LE(16);
  if (!isNat(epoch)) return batchError('epoch is not a natural number');
  if (!isNat(baseSeq)) return batchError('base seq is not a natural number');
  if (count === 0) return batchError('no ticks');
  const strings: string[] = [];
  const ticks: StreamTick[] = new Array(count);
  let o = BATCH_HEAD;
  const end = p.length;
  for (let i = 0; i < count; i++) {
    if (o + 5 > end) return batchError(`truncated at tick ${i} of ${count}`);
    const seq = baseSeq + p.readInt32LE(o);
    if (!(Number.isSafeInteger(seq) && seq >= 1)) return batchError(`tick ${i}: seq ${seq} is not >= 1`);
    o += 4;
    // string ref
    let symbol: string;
    let r = p[o++]!;
    if (r >= 0x80) {
      const s = strings[r - 0x80];
      if (s === undefined) return batchError(`tick ${i}: symbol refers to unknown string ${r - 0x80}`);
      symbol = s;
    } else {
      if (r === 0 || r > MAX_STRING_BYTES || o + r > end) return batchError(`tick ${i}: bad symbol length ${r}`);
      symbol = p.toString('utf8', o, o + r);
      o += r;
      if (strings.length < MAX_TABLE) strings.push(symbol);
    }
    if (o + 45 > end) return batchError(`truncated at tick ${i} of ${count}`);
    const presence = p[o]!;
    if (presence > 15) return batchError(`tick ${i}: unknown presence bits ${presence}`);
    const bid = p.readDoubleLE(o + 1);
    const ask = p.readDoubleLE(o + 9);
    const last = p.readDoubleLE(o + 17);
    const volume = p.readDoubleLE(o + 25);
    const timeMsc = p.readDoubleLE(o + 33);
    const flags = p.readUInt32LE(o + 41);
    o += 45;
    if (!(isNum(bid) && isNum(ask) && isNum(last) && isNum(volume) && isNat(timeMsc))) return batchError(`tick ${i}: a price, volume or time is not a finite number`);
    let feedSeq: number | undefined;
    let feedEpoch: number | undefined;
    let stream: string | undefined;
    let volumeReal: number | undefined;
    if (presence & 1) {
      if (o + 8 > end) return batchError(`truncated at tick ${i} of ${count}`);
      feedSeq = p.readDoubleLE(o);
      if (!isNat(feedSeq)) return batchError(`tick ${i}: feed seq is not a natural number`);
      o += 8;
    }
    if (presence & 2) {
      if (o + 8 > end) return batchError(`truncated at tick ${i} of ${count}`);
      feedEpoch = p.readDoubleLE(o);
      if (!isNat(feedEpoch)) return batchError(`tick ${i}: feed epoch is not a natural number`);
      o += 8;
    }
    if (presence & 4) {
      if (o + 1 > end) return batchError(`truncated at tick ${i} of ${count}`);
      r = p[o++]!;
      if (r >= 0x80) {
        stream = strings[r - 0x80];
        if (stream === undefined) return batchError(`tick ${i}: stream refers to unknown string ${r - 0x80}`);
      } else {
        if (r === 0 || r > MAX_STRING_BYTES || o + r > end) return batchError(`tick ${i}: bad stream length ${r}`);
        stream = p.toString('utf8', o, o + r);
        o += r;
        if (strings.length < MAX_TABLE) strings.push(stream);
      }
    }
    if (presence & 8) {
      if (o + 8 > end) return batchError(`truncated at tick ${i} of ${count}`);
      volumeReal = p.readDoubleLE(o);
      if (!isNum(volumeReal)) return batchError(`tick ${i}: volume_real is not a finite number`);
      o += 8;
    }
    let tick: Tick;
    // A feed's tick carries every optional field: one literal, in the same key order as the general
    // path below. Adding four properties to a 7-field object allocated a property backing store and
    // walked map transitions per tick (most of the consumer's garbage).
    if (presence === 15) tick = { symbol, bid, ask, last, volume, time_msc: timeMsc, flags, seq: feedSeq!, epoch: feedEpoch!, stream: stream!, volume_real: volumeReal! };
    else {
      tick = { symbol, bid, ask, last, volume, time_msc: timeMsc, flags };
      if (feedSeq !== undefined) tick.seq = feedSeq;
      if (feedEpoch !== undefined) tick.epoch = feedEpoch;
      if (stream !== undefined) tick.stream = stream;
      if (volumeReal !== undefined) tick.volume_real = volumeReal;
    }
    ticks[i] = { epoch, seq, tick };
  }
  if (o !== end) return batchError(`${end - o} bytes left after ${count} ticks`);
  return { ok: true, message: { kind: 'tick_batch', epoch, ticks } };
}
