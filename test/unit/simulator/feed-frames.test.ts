import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { TickGenerator } from '../../../simulator/feed/generator.ts';
import { resolveSymbols } from '../../../simulator/feed/symbols.ts';
import { FEED_HEADER_BYTES, FEED_MAX_FRAME_TICKS, FeedFrameDecoder, FeedFrameEncoder, type FeedFrameError } from '../../../simulator/protocol/feed-frames.ts';
import type { Tick } from '../../../simulator/protocol/types.ts';

const nat = fc.integer({ min: 0, max: 2 ** 45 });
const price = fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));
const name = fc.oneof(fc.constantFrom('EURUSD', 'GBPUSD', 'XAUUSD', 'US500.cash', 'ünïcode'), fc.string({ minLength: 1, maxLength: 20 }));
const tickArb: fc.Arbitrary<Tick> = fc.record({
  stream: name,
  seq: fc.integer({ min: 1, max: 2 ** 45 }),
  epoch: nat,
  symbol: name,
  bid: price,
  ask: price,
  last: price,
  volume: price,
  volume_real: price,
  time_msc: nat,
  flags: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
});
/** Names that survive UTF-8 (a lone surrogate does not, and the feed's names are never one). */
const utf8Safe = (t: Tick) => Buffer.from(t.stream, 'utf8').toString('utf8') === t.stream && Buffer.from(t.symbol, 'utf8').toString('utf8') === t.symbol;
const batchesArb = fc.array(fc.array(tickArb.filter(utf8Safe), { minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 6 });

/** The bytes one binary subscriber gets for these batches, as the feed writes them. */
function streamOf(batches: Tick[][], enc = new FeedFrameEncoder()): Buffer {
  const parts: Buffer[] = [];
  let sent = 0;
  for (const b of batches) {
    const frames = enc.ticksFrames(b)!;
    const s = enc.stringsFrame(sent);
    sent = enc.stringCount;
    if (s) parts.push(s);
    parts.push(frames);
  }
  return Buffer.concat(parts);
}

/** Offsets where a frame starts (and the end). */
function boundaries(bytes: Buffer): Set<number> {
  const out = new Set<number>([0]);
  for (let o = 0; o < bytes.length; ) {
    o += FEED_HEADER_BYTES + bytes.readUInt32LE(o + 4);
    out.add(o);
  }
  return out;
}

/** Push `bytes` in chunks cut at `cuts`; returns the ticks delivered and the first error. */
function decode(bytes: Buffer, cuts: number[] = []): { got: Tick[]; err: FeedFrameError | undefined; d: FeedFrameDecoder } {
  const got: Tick[] = [];
  const d = new FeedFrameDecoder((t) => got.push(t));
  let err: FeedFrameError | undefined;
  let off = 0;
  for (const c of cuts) {
    if (off >= bytes.length) break;
    err ??= d.push(bytes.subarray(off, off + c));
    off += c;
  }
  if (off < bytes.length) err ??= d.push(bytes.subarray(off));
  err ??= d.end();
  return { got, err, d };
}

describe('binary feed frames', () => {
  it('property: every tick comes out exactly as it went in, however the byte stream is cut', () => {
    fc.assert(
      fc.property(batchesArb, fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 40 }), (batches, cuts) => {
        const { got, err, d } = decode(streamOf(batches), cuts);
        expect(err).toBeUndefined();
        expect(got).toEqual(batches.flat());
        expect(d.stats.ticks).toBe(got.length);
        expect(d.stats.badFrames).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('the generator\'s ticks round-trip to equal objects, names once per connection', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 24, 12));
    const gen = new TickGenerator({ symbols: resolveSymbols(), ticksPerSecond: 5000, epoch: 9, clock, random: createRandom(3) });
    const batches: Tick[][] = [gen.prime(), gen.step(50), gen.step(50), gen.step(50)];
    const bytes = streamOf(batches);
    const { got, err } = decode(bytes);
    expect(err).toBeUndefined();
    expect(got).toEqual(batches.flat());
    expect(got.map((t) => JSON.stringify(t))).toEqual(batches.flat().map((t) => JSON.stringify(t)));
    // 72 bytes a tick plus a 16-byte head per batch; the names appear once, in the one strings frame.
    expect(bytes.length).toBeLessThan(got.length * 72 + batches.length * 16 + 64);
    expect(bytes.toString('latin1').split('EURUSD').length - 1).toBe(1);
  });

  it('a batch larger than one frame is split and arrives whole', () => {
    const t: Tick = { stream: 'EURUSD', seq: 1, epoch: 1, symbol: 'EURUSD', bid: 1, ask: 1.1, last: 0, volume: 0, volume_real: 0, time_msc: 5, flags: 6 };
    const batch = Array.from({ length: FEED_MAX_FRAME_TICKS + 3 }, (_, i) => ({ ...t, seq: i + 1 }));
    const { got, err, d } = decode(streamOf([batch]));
    expect(err).toBeUndefined();
    expect(got).toHaveLength(batch.length);
    expect(d.stats.frames).toBe(3); // strings + 2 ticks frames
    expect(d.stats.seqGapTicks).toBe(0);
  });

  it('property: a flipped bit or a cut anywhere is reported, and only whole valid frames before it are delivered', () => {
    fc.assert(
      fc.property(batchesArb, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 20 }), (batches, at, bit, cut, cuts) => {
        const good = streamOf(batches);
        const all = batches.flat();
        const i = at % good.length;
        let bad: Buffer;
        if (cut) bad = good.subarray(0, i);
        else {
          bad = Buffer.from(good);
          bad[i] = bad[i]! ^ (1 << bit);
        }
        const { got, err } = decode(bad, cuts);
        // Never a garbled tick: what comes out is a prefix of what went in, frame by frame.
        expect(got).toEqual(all.slice(0, got.length));
        // Never a silent drop: fewer ticks than were sent means an error was reported, except when
        // the stream ends cleanly between two frames (then the connection's close is the report).
        if (!cut || !boundaries(good).has(i)) expect(err).toBeDefined();
        else expect(err).toBeUndefined();
        if (got.length < all.length && err === undefined) expect(cut && boundaries(good).has(i)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('property: random bytes never throw and never deliver a tick without a valid CRC', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, withMagic) => {
        const b = Buffer.from(bytes);
        if (withMagic && b.length >= 3) {
          b[0] = 0xea;
          b[1] = 0xfd;
          b[2] = 1;
        }
        const { got, err } = decode(b);
        expect(got).toEqual([]);
        if (b.length > 0) expect(err).toBeDefined();
      }),
      { numRuns: 300 },
    );
  });

  /** A frame with a valid CRC around `payload`, to reach the checks behind the CRC. */
  const frame = (kind: number, payload: Buffer) => {
    const h = Buffer.alloc(FEED_HEADER_BYTES);
    h[0] = 0xea;
    h[1] = 0xfd;
    h[2] = 1;
    h[3] = kind;
    h.writeUInt32LE(payload.length, 4);
    h.writeUInt32LE(crc32(payload) >>> 0, 8);
    return Buffer.concat([h, payload]);
  };
  const strings = (first: number, names: string[]) =>
    frame(1, Buffer.concat([Buffer.from([first & 0xff, first >> 8, names.length & 0xff, names.length >> 8]), ...names.map((n) => Buffer.concat([Buffer.from([Buffer.byteLength(n)]), Buffer.from(n)]))]));
  const ticks = (rows: { sid: number; seq: number; bid?: number }[]) => {
    const p = Buffer.alloc(4 + rows.length * 72);
    p.writeUInt32LE(rows.length, 0);
    rows.forEach((r, i) => {
      const o = 4 + i * 72;
      p.writeUInt16LE(r.sid, o);
      p.writeUInt16LE(r.sid, o + 2);
      p.writeDoubleLE(r.seq, o + 8);
      p.writeDoubleLE(1, o + 16);
      p.writeDoubleLE(1000, o + 24);
      p.writeDoubleLE(r.bid ?? 1.5, o + 32);
      p.writeDoubleLE(1.6, o + 40);
    });
    return frame(2, p);
  };

  it('checks behind the CRC: undefined or redefined names, bad numbers, a wrong count; none delivers part of its frame', () => {
    const cases: [Buffer, string][] = [
      [ticks([{ sid: 0, seq: 1 }]), 'E_TICKS'],
      [Buffer.concat([strings(0, ['A']), ticks([{ sid: 0, seq: 1 }, { sid: 0, seq: 2, bid: NaN }])]), 'E_TICKS'],
      [Buffer.concat([strings(0, ['A']), ticks([{ sid: 0, seq: 1 }, { sid: 0, seq: 0 }])]), 'E_TICKS'],
      [Buffer.concat([strings(0, ['A']), ticks([{ sid: 0, seq: 1.5 }])]), 'E_TICKS'],
      [Buffer.concat([strings(0, ['A']), strings(0, ['B'])]), 'E_STRINGS'],
      [strings(0xfffe, ['A', 'B']), 'E_STRINGS'],
      [frame(1, Buffer.from([0, 0, 1, 0, 5, 65])), 'E_STRINGS'],
      [frame(2, Buffer.from([2, 0, 0, 0, 1, 2, 3])), 'E_TICKS'],
      [frame(3, Buffer.from([1])), 'E_KIND'],
    ];
    for (const [bytes, code] of cases) {
      const { got, err } = decode(bytes);
      expect(err?.code, code).toBe(code);
      expect(got.filter((t) => t.seq !== 1 || bytes.length > 200)).toEqual([]);
    }
    // A name defined twice with the same text is fine; the second frame's ticks are delivered.
    const ok = decode(Buffer.concat([strings(0, ['A']), strings(0, ['A']), ticks([{ sid: 0, seq: 1 }])]));
    expect(ok.err).toBeUndefined();
    expect(ok.got.map((t) => t.stream)).toEqual(['A']);
  });

  it('a decoder that failed stays failed and holds nothing', () => {
    const got: Tick[] = [];
    const d = new FeedFrameDecoder((t) => got.push(t));
    expect(d.push(Buffer.from('not a frame at all'))?.code).toBe('E_MAGIC');
    expect(d.push(streamOf([[{ stream: 'A', seq: 1, epoch: 1, symbol: 'A', bid: 1, ask: 2, last: 0, volume: 0, volume_real: 0, time_msc: 1, flags: 6 }]]))?.code).toBe('E_MAGIC');
    expect(d.pending).toBe(0);
    expect(got).toEqual([]);
    expect(d.stats.badFrames).toBe(1);
  });

  it('seq gaps and regressions within a stream and epoch are counted; the ticks are still delivered', () => {
    const { got, err, d } = decode(Buffer.concat([strings(0, ['A', 'B']), ticks([{ sid: 0, seq: 1 }, { sid: 1, seq: 7 }, { sid: 0, seq: 4 }, { sid: 0, seq: 4 }, { sid: 1, seq: 8 }])]));
    expect(err).toBeUndefined();
    expect(got).toHaveLength(5);
    expect(d.stats.seqGapTicks).toBe(2);
    expect(d.stats.seqRegressions).toBe(1);
  });
});
