import { crc32 } from 'node:zlib';
import type { Tick } from './types.ts';

/**
 * The feed's opt-in binary framing (docs/protocol.md, "Market-data feed"). A subscriber that
 * sends `{"op":"subscribe","encoding":"binary"}` gets one JSON line `{"encoding":"binary","version":1}`
 * and binary frames from the next byte on; JSON lines stay the default. A frame is
 *
 *   magic 0xEA 0xFD | version 1 | kind u8 | payload length u32 LE | crc32(payload) u32 LE | payload
 *
 * kind 1 `strings`: first id u16 LE | count u16 LE | count × (length u8 1..255 | UTF-8 bytes)
 *   defines string ids first..first+count-1 for the rest of the connection (symbol and stream names).
 * kind 2 `ticks`:   count u32 LE | count × 72-byte tick, little-endian:
 *   stream id u16 | symbol id u16 | flags u32 | seq f64 | epoch f64 | time_msc f64 |
 *   bid f64 | ask f64 | last f64 | volume f64 | volume_real f64
 *
 * Names travel once per connection instead of once per tick, and a tick is read with fixed-offset
 * reads instead of `JSON.parse`. Doubles carry the prices exactly (the JSON numbers were doubles).
 * The CRC is there so that a garbled frame is refused rather than delivered as a real price; TCP
 * itself never garbles, so any bad frame means a wrong peer or a bug, and the connection's string
 * table can no longer be trusted: the decoder stops and the client closes the connection.
 */
export const FEED_MAGIC0 = 0xea;
export const FEED_MAGIC1 = 0xfd;
export const FEED_FRAME_VERSION = 1;
export const FEED_HEADER_BYTES = 12;
/** Larger payloads are refused (a 2 ms batch at 100k ticks/s is ~15 KB). */
export const FEED_MAX_PAYLOAD_BYTES = 1024 * 1024;
export const FEED_TICK_BYTES = 72;
/** Ticks per frame; a larger batch is split over several frames. */
export const FEED_MAX_FRAME_TICKS = Math.floor((FEED_MAX_PAYLOAD_BYTES - 4) / FEED_TICK_BYTES);
/** Distinct names per connection (ids 0..65534, so a strings frame's u16 count always fits). */
export const FEED_MAX_STRINGS = 0xffff;
const MAX_NAME_BYTES = 255;

export const FeedFrameKind = { STRINGS: 1, TICKS: 2 } as const;

/** The subscribe line that asks for binary frames, and the feed's answer that switches to them. */
export const BINARY_ENCODING = 'binary';
export interface FeedEncodingAck {
  encoding: typeof BINARY_ENCODING;
  version: number;
}

export type FeedFrameErrorCode = 'E_MAGIC' | 'E_VERSION' | 'E_KIND' | 'E_LENGTH' | 'E_CRC' | 'E_STRINGS' | 'E_TICKS' | 'E_TRUNCATED';
export interface FeedFrameError {
  code: FeedFrameErrorCode;
  message: string;
}

function header(buf: Buffer, kind: number, payloadLen: number): void {
  buf[0] = FEED_MAGIC0;
  buf[1] = FEED_MAGIC1;
  buf[2] = FEED_FRAME_VERSION;
  buf[3] = kind;
  buf.writeUInt32LE(payloadLen, 4);
  buf.writeUInt32LE(crc32(buf.subarray(FEED_HEADER_BYTES, FEED_HEADER_BYTES + payloadLen)) >>> 0, 8);
}

/**
 * The feed side: one string table for the whole feed (ids in order of first use), and the frames.
 * Each connection has been sent ids below some mark; `stringsFrame(mark)` brings it up to date
 * before a ticks frame that may use newer ids, so names are sent once per connection.
 */
export class FeedFrameEncoder {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  get stringCount(): number {
    return this.names.length;
  }

  private id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      if (this.names.length >= FEED_MAX_STRINGS) throw new RangeError(`more than ${FEED_MAX_STRINGS} distinct stream and symbol names`);
      if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw new RangeError(`name of ${Buffer.byteLength(name, 'utf8')} UTF-8 bytes cannot be sent (1..${MAX_NAME_BYTES})`);
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  /**
   * Strings frames defining ids `from`..stringCount-1 (several concatenated when they would
   * exceed the payload limit), or undefined when there are none.
   */
  stringsFrame(from: number): Buffer | undefined {
    if (from >= this.names.length) return undefined;
    const parts: Buffer[] = [];
    let i = from;
    while (i < this.names.length) {
      let len = 4;
      let end = i;
      while (end < this.names.length) {
        const add = 1 + Buffer.byteLength(this.names[end]!, 'utf8');
        if (len + add > FEED_MAX_PAYLOAD_BYTES) break;
        len += add;
        end++;
      }
      const buf = Buffer.allocUnsafe(FEED_HEADER_BYTES + len);
      let o = FEED_HEADER_BYTES;
      buf.writeUInt16LE(i, o);
      buf.writeUInt16LE(end - i, o + 2);
      o += 4;
      for (let k = i; k < end; k++) {
        const w = buf.write(this.names[k]!, o + 1, 'utf8');
        buf[o] = w;
        o += 1 + w;
      }
      header(buf, FeedFrameKind.STRINGS, len);
      parts.push(buf);
      i = end;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /**
   * Ticks frames for `ticks` (those `keep` accepts, if given), concatenated: one frame per
   * FEED_MAX_FRAME_TICKS ticks. Interns new names, so call stringsFrame() for each connection
   * after this and before writing the result. Undefined when no tick is kept.
   */
  ticksFrames(ticks: readonly Tick[], keep?: (t: Tick) => boolean): Buffer | undefined {
    let n = ticks.length;
    if (keep) {
      n = 0;
      for (let i = 0; i < ticks.length; i++) if (keep(ticks[i]!)) n++;
    }
    if (n === 0) return undefined;
    const frames = Math.ceil(n / FEED_MAX_FRAME_TICKS);
    const buf = Buffer.allocUnsafe(frames * (FEED_HEADER_BYTES + 4) + n * FEED_TICK_BYTES);
    let start = 0;
    let o = 0;
    let left = n;
    let i = 0;
    while (left > 0) {
      const k = Math.min(left, FEED_MAX_FRAME_TICKS);
      start = o;
      o += FEED_HEADER_BYTES;
      buf.writeUInt32LE(k, o);
      o += 4;
      for (let w = 0; w < k; i++) {
        const t = ticks[i]!;
        if (keep && !keep(t)) continue;
        buf.writeUInt16LE(this.id(t.stream), o);
        buf.writeUInt16LE(t.symbol === t.stream ? buf.readUInt16LE(o) : this.id(t.symbol), o + 2);
        buf.writeUInt32LE(t.flags >>> 0, o + 4);
        buf.writeDoubleLE(t.seq, o + 8);
        buf.writeDoubleLE(t.epoch, o + 16);
        buf.writeDoubleLE(t.time_msc, o + 24);
        buf.writeDoubleLE(t.bid, o + 32);
        buf.writeDoubleLE(t.ask, o + 40);
        buf.writeDoubleLE(t.last, o + 48);
        buf.writeDoubleLE(t.volume, o + 56);
        buf.writeDoubleLE(t.volume_real, o + 64);
        o += FEED_TICK_BYTES;
        w++;
      }
      const frame = buf.subarray(start, o);
      header(frame, FeedFrameKind.TICKS, o - start - FEED_HEADER_BYTES);
      left -= k;
    }
    return buf;
  }
}

const isNat = (v: number) => Number.isSafeInteger(v) && v >= 0;

export interface FeedDecoderStats {
  frames: number;
  ticks: number;
  /** Frames refused (the decoder stops at the first). */
  badFrames: number;
  /**
   * Ticks missing by seq within one stream and epoch, and ticks whose seq did not move forward.
   * Both stay 0 with this feed; they are how a tick lost or repeated by a faulty peer would show.
   */
  seqGapTicks: number;
  seqRegressions: number;
}

/**
 * Incremental decoder of the binary feed stream (after the encoding ack). Ticks go to `onTick` in
 * order. A frame is checked whole (CRC, every string ref, every number) before any of its ticks is
 * delivered, so a bad frame delivers nothing of itself; push() then returns the error, the decoder
 * stops (a string table it cannot trust makes every later frame suspect), and the owner closes
 * the connection and reports it.
 */
export class FeedFrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private names: (string | undefined)[] = [];
  private lastSeq: number[] = [];
  private lastEpoch: number[] = [];
  /** The frame being decoded, reused from frame to frame. */
  private readonly frameTicks: (Tick | undefined)[] = [];
  private failed: FeedFrameError | undefined;
  readonly stats: FeedDecoderStats = { frames: 0, ticks: 0, badFrames: 0, seqGapTicks: 0, seqRegressions: 0 };

  constructor(private readonly onTick: (t: Tick) => void) {}

  /** The error that stopped the decoder, if any. */
  get error(): FeedFrameError | undefined {
    return this.failed;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  /** Feed bytes; returns the error if this chunk (or an earlier one) broke the stream. */
  push(chunk: Buffer): FeedFrameError | undefined {
    if (this.failed) return this.failed;
    const b = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    while (b.length - off >= FEED_HEADER_BYTES) {
      if (b[off] !== FEED_MAGIC0 || b[off + 1] !== FEED_MAGIC1) return this.fail('E_MAGIC', `bad magic 0x${b.readUInt16BE(off).toString(16)}`);
      if (b[off + 2] !== FEED_FRAME_VERSION) return this.fail('E_VERSION', `unknown version ${b[off + 2]}`);
      const kind = b[off + 3]!;
      if (kind !== FeedFrameKind.STRINGS && kind !== FeedFrameKind.TICKS) return this.fail('E_KIND', `unknown frame kind ${kind}`);
      const len = b.readUInt32LE(off + 4);
      if (len > FEED_MAX_PAYLOAD_BYTES) return this.fail('E_LENGTH', `payload of ${len} bytes exceeds ${FEED_MAX_PAYLOAD_BYTES}`);
      if (b.length - off < FEED_HEADER_BYTES + len) break;
      const p = b.subarray(off + FEED_HEADER_BYTES, off + FEED_HEADER_BYTES + len);
      if ((crc32(p) >>> 0) !== b.readUInt32LE(off + 8)) return this.fail('E_CRC', `CRC mismatch in a ${kind === FeedFrameKind.TICKS ? 'ticks' : 'strings'} frame of ${len} bytes`);
      const err = kind === FeedFrameKind.TICKS ? this.ticks(p) : this.strings(p);
      if (err) return err;
      this.stats.frames++;
      off += FEED_HEADER_BYTES + len;
    }
    // Keep only the unfinished frame; copy it when small so a large chunk is not held for it.
    this.buf = off === b.length ? Buffer.alloc(0) : off === 0 ? b : Buffer.from(b.subarray(off));
    return undefined;
  }

  /** The stream ended: a frame cut short is an error too (its ticks are lost, not silently). */
  end(): FeedFrameError | undefined {
    if (this.failed) return undefined;
    if (this.buf.length > 0) return this.fail('E_TRUNCATED', `stream ended inside a frame (${this.buf.length} bytes held)`);
    return undefined;
  }

  private dropFrame(built: number, code: FeedFrameErrorCode, message: string): FeedFrameError {
    this.frameTicks.fill(undefined, 0, built);
    return this.fail(code, message);
  }

  private fail(code: FeedFrameErrorCode, message: string): FeedFrameError {
    this.stats.badFrames++;
    this.failed = { code, message };
    this.buf = Buffer.alloc(0);
    return this.failed;
  }

  private strings(p: Buffer): FeedFrameError | undefined {
    if (p.length < 4) return this.fail('E_STRINGS', `strings payload of ${p.length} bytes`);
    const first = p.readUInt16LE(0);
    const count = p.readUInt16LE(2);
    if (count === 0 || first + count > FEED_MAX_STRINGS) return this.fail('E_STRINGS', `ids ${first}+${count} out of range`);
    const got: string[] = [];
    let o = 4;
    for (let i = 0; i < count; i++) {
      const n = p[o];
      if (n === undefined || n === 0 || o + 1 + n > p.length) return this.fail('E_STRINGS', `name ${i} of ${count}: bad length`);
      const name = p.toString('utf8', o + 1, o + 1 + n);
      const had = this.names[first + i];
      if (had !== undefined && had !== name) return this.fail('E_STRINGS', `id ${first + i} redefined`);
      got.push(name);
      o += 1 + n;
    }
    if (o !== p.length) return this.fail('E_STRINGS', `${p.length - o} bytes after ${count} names`);
    for (let i = 0; i < count; i++) this.names[first + i] = got[i];
    return undefined;
  }

  private ticks(p: Buffer): FeedFrameError | undefined {
    if (p.length < 4) return this.fail('E_TICKS', `ticks payload of ${p.length} bytes`);
    const count = p.readUInt32LE(0);
    if (count === 0 || p.length !== 4 + count * FEED_TICK_BYTES) return this.fail('E_TICKS', `${count} ticks need ${4 + count * FEED_TICK_BYTES} bytes, payload has ${p.length}`);
    const names = this.names;
    const st = this.stats;
    // One pass builds and checks every tick; none is delivered unless the whole frame is good.
    const out = this.frameTicks;
    for (let i = 0, o = 4; i < count; i++, o += FEED_TICK_BYTES) {
      const stream = names[p.readUInt16LE(o)];
      const symbol = names[p.readUInt16LE(o + 2)];
      if (stream === undefined || symbol === undefined) return this.dropFrame(i, 'E_TICKS', `tick ${i}: undefined string id`);
      const seq = p.readDoubleLE(o + 8);
      const epoch = p.readDoubleLE(o + 16);
      const time = p.readDoubleLE(o + 24);
      if (!(isNat(seq) && seq >= 1 && isNat(epoch) && isNat(time))) return this.dropFrame(i, 'E_TICKS', `tick ${i}: seq, epoch or time_msc is not a natural number`);
      // Field order as the generator builds ticks, so both share one object shape.
      const t: Tick = {
        stream,
        seq,
        epoch,
        symbol,
        bid: p.readDoubleLE(o + 32),
        ask: p.readDoubleLE(o + 40),
        last: p.readDoubleLE(o + 48),
        volume: p.readDoubleLE(o + 56),
        volume_real: p.readDoubleLE(o + 64),
        time_msc: time,
        flags: p.readUInt32LE(o + 4),
      };
      if (!(Number.isFinite(t.bid) && Number.isFinite(t.ask) && Number.isFinite(t.last) && Number.isFinite(t.volume) && Number.isFinite(t.volume_real))) {
        return this.dropFrame(i, 'E_TICKS', `tick ${i}: a price or volume is not finite`);
      }
      out[i] = t;
    }
    for (let i = 0, o = 4; i < count; i++, o += FEED_TICK_BYTES) {
      const t = out[i]!;
      // Release it here: a tick held in this array past a scavenge would be copied for nothing.
      out[i] = undefined;
      const sid = p.readUInt16LE(o);
      const last = this.lastSeq[sid];
      if (last !== undefined && this.lastEpoch[sid] === t.epoch) {
        if (t.seq > last + 1) st.seqGapTicks += t.seq - last - 1;
        else if (t.seq <= last) st.seqRegressions++;
      }
      this.lastSeq[sid] = t.seq;
      this.lastEpoch[sid] = t.epoch;
      st.ticks++;
      this.onTick(t);
    }
    return undefined;
  }
}
