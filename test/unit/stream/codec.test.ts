import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeDatagram, decodeTickBatch, encode, encodeTickBatch, FrameDecoder, HEADER_BYTES, TickBatchWriter, type Message, type StreamTick, type Tick } from '../../../runtime/stream/codec.ts';

const nat = fc.integer({ min: 0, max: 2 ** 31 });
const pos = fc.integer({ min: 1, max: 2 ** 40 });
const price = fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true });
const tickArb: fc.Arbitrary<Tick> = fc.record(
  {
    symbol: fc.string({ minLength: 1, maxLength: 12 }),
    bid: price,
    ask: price,
    last: price,
    volume: price,
    time_msc: fc.integer({ min: 0, max: 2 ** 45 }),
    flags: fc.integer({ min: 0, max: 255 }),
    seq: nat,
    epoch: nat,
  },
  { requiredKeys: ['symbol', 'bid', 'ask', 'last', 'volume', 'time_msc', 'flags'] },
);
/** What the feed sends: every optional field, a few symbols (so the frame's string table is used), negative zero. */
const feedTickArb: fc.Arbitrary<Tick> = fc.record(
  {
    symbol: fc.constantFrom('EURUSD', 'GBPUSD', 'XAUUSD', 'US500.cash'),
    bid: fc.oneof(price, fc.constant(-0)),
    ask: price,
    last: price,
    volume: price,
    time_msc: fc.integer({ min: 0, max: 2 ** 45 }),
    flags: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    seq: nat,
    epoch: nat,
    stream: fc.constantFrom('EURUSD', 'feed-a', 'ünïcode'),
    volume_real: price,
  },
  { requiredKeys: ['symbol', 'bid', 'ask', 'last', 'volume', 'time_msc', 'flags'] },
);
/** A batch: seqs near each other (a turn's ticks, or the latest tick per symbol after a switch). */
const batchArb = fc
  .tuple(nat, pos, fc.array(fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.oneof(tickArb, feedTickArb)), { minLength: 1, maxLength: 20 }))
  .map(([epoch, base, ts]) => ({
    kind: 'tick_batch' as const,
    epoch,
    ticks: ts.map(([d, tick]): StreamTick => ({ epoch, seq: Math.max(1, base + d), tick })),
  }));

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ kind: fc.constant('hello' as const), epoch: nat, stream: fc.string({ maxLength: 10 }), lastSeq: nat }),
  fc.record({ kind: fc.constant('tick' as const), epoch: nat, seq: pos, tick: tickArb }),
  batchArb,
  fc.record({ kind: fc.constant('ping' as const), epoch: nat, ping: nat, lastSeq: nat }),
  fc.record({ kind: fc.constant('ack' as const), epoch: nat, ping: nat, contiguous: nat, highest: nat }),
  fc.record({ kind: fc.constant('hist_req' as const), id: nat, epoch: nat, fromSeq: nat, toSeq: nat }),
  fc.record({ kind: fc.constant('hist_req' as const), id: nat, epoch: nat, fromMs: nat, toMs: nat }),
  fc.record({ kind: fc.constant('hist_tick' as const), id: nat, epoch: nat, seq: pos, tick: tickArb }),
  fc.record(
    { kind: fc.constant('hist_end' as const), id: nat, count: nat, status: fc.constantFrom('ok' as const, 'error' as const), code: fc.string({ maxLength: 8 }), missing: nat },
    { requiredKeys: ['kind', 'id', 'count', 'status'] },
  ),
);

/** JSON drops -0's sign; compare the way the wire does. */
const viaJson = (m: Message) => JSON.parse(JSON.stringify(m)) as unknown;

describe('tick-stream codec', () => {
  it('round-trips every message through a datagram', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 5 }), (msgs) => {
        const res = decodeDatagram(Buffer.concat(msgs.map(encode)));
        expect(res.map((r) => (r.ok ? viaJson(r.message) : r.error))).toEqual(msgs.map(viaJson));
      }),
    );
  });

  it('round-trips through a TCP byte stream cut at arbitrary points', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }), (msgs, cuts) => {
        const bytes = Buffer.concat(msgs.map(encode));
        const d = new FrameDecoder();
        const out: unknown[] = [];
        let off = 0;
        let i = 0;
        while (off < bytes.length) {
          const n = cuts[i++ % cuts.length]!;
          for (const r of d.push(bytes.subarray(off, off + n))) out.push(r.ok ? viaJson(r.message) : r.error);
          off += n;
        }
        expect(out).toEqual(msgs.map(viaJson));
        expect(d.pending).toBe(0);
      }),
    );
  });

  it('rejects every single-bit flip of a frame: a garbled datagram is never a valid message', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (msg, at, bit) => {
        const buf = Buffer.from(encode(msg));
        const i = at % buf.length;
        buf[i] = buf[i]! ^ (1 << bit);
        const res = decodeDatagram(buf);
        expect(res.length).toBeGreaterThan(0);
        expect(res.every((r) => !r.ok)).toBe(true);
      }),
    );
  });

  it('rejects every truncation of a frame', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (msg, at) => {
        const buf = encode(msg);
        const res = decodeDatagram(buf.subarray(0, at % buf.length));
        expect(res.every((r) => !r.ok)).toBe(true);
      }),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const res = decodeDatagram(Buffer.from(bytes));
        expect(Array.isArray(res)).toBe(true);
        new FrameDecoder().push(Buffer.from(bytes));
      }),
    );
  });

  it('rejects well-framed payloads with a wrong shape', () => {
    const good = encode({ kind: 'tick', epoch: 1, seq: 1, tick: { symbol: 'X', bid: 1, ask: 1, last: 0, volume: 0, time_msc: 1, flags: 0 } });
    // seq 0 is not a valid stream seq; a history request with both seq and time ranges is ambiguous.
    for (const m of [
      { kind: 'tick', epoch: 1, seq: 0, tick: { symbol: 'X', bid: 1, ask: 1, last: 0, volume: 0, time_msc: 1, flags: 0 } },
      { kind: 'hist_req', id: 1, epoch: 1, fromSeq: 1, toSeq: 2, fromMs: 1, toMs: 2 },
      { kind: 'hist_req', id: 1, epoch: 1 },
    ]) {
      // Build the frame by hand: encode() is typed and would not let these through.
      const payload = Buffer.from(JSON.stringify({ ...m, kind: undefined }));
      const frame = Buffer.concat([good.subarray(0, HEADER_BYTES), payload]);
      frame[3] = m.kind === 'tick' ? 2 : 5;
      frame.writeUInt32BE(payload.length, 4);
      frame.writeUInt32BE(crc32(payload) >>> 0, 8);
      const [r] = decodeDatagram(frame);
      expect(r).toMatchObject({ ok: false, error: { code: 'E_SHAPE' } });
    }
  });

  it('marks a TCP stream broken after a framing error instead of guessing', () => {
    const d = new FrameDecoder();
    const res = d.push(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(res).toMatchObject([{ ok: false, error: { code: 'E_MAGIC' } }]);
    expect(d.isBroken).toBe(true);
  });

  it('a batch carries doubles exactly, negative zero included', () => {
    fc.assert(
      fc.property(batchArb, (m) => {
        const [r] = decodeDatagram(encode(m));
        expect(r!.ok).toBe(true);
        const got = (r as { ok: true; message: Extract<Message, { kind: 'tick_batch' }> }).message;
        expect(got.ticks.length).toBe(m.ticks.length);
        got.ticks.forEach((t, i) => {
          expect(Object.is(t.tick.bid, m.ticks[i]!.tick.bid)).toBe(true);
          expect(t.seq).toBe(m.ticks[i]!.seq);
          expect(t.epoch).toBe(m.epoch);
        });
      }),
    );
  });

  it('TickBatchWriter packs ticks into frames no bigger than its limit, losing and reordering none', () => {
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 1500 }), fc.array(feedTickArb, { minLength: 1, maxLength: 200 }), (max, ticks) => {
        const w = new TickBatchWriter(max);
        const frames: Buffer[] = [];
        ticks.forEach((t, i) => {
          if (!w.add(7, i + 1, t)) {
            frames.push(w.take()!);
            expect(w.add(7, i + 1, t)).toBe(true);
          }
        });
        frames.push(w.take()!);
        expect(w.take()).toBeUndefined();
        for (const f of frames) expect(f.length).toBeLessThanOrEqual(max);
        const got = decodeDatagram(Buffer.concat(frames)).flatMap((r) => (r.ok && r.message.kind === 'tick_batch' ? r.message.ticks : []));
        expect(got.map((t) => t.seq)).toEqual(ticks.map((_, i) => i + 1));
        expect(got.map((t) => t.tick).map((t) => JSON.stringify(t))).toEqual(ticks.map((t) => JSON.stringify(t)));
      }),
    );
  });

  it('leaves a tick it cannot batch to the caller (a name whose UTF-8 is over 64 bytes or not reversible)', () => {
    const w = new TickBatchWriter(1200);
    const t = (symbol: string): Tick => ({ symbol, bid: 1, ask: 1, last: 0, volume: 0, time_msc: 1, flags: 0 });
    expect(w.add(1, 1, t('é'.repeat(40)))).toBe(false);
    expect(w.add(1, 1, t('\ud800'))).toBe(false);
    expect(w.add(1, 1, t('EURUSD'))).toBe(true);
    expect(w.add(2, 2, t('EURUSD'))).toBe(false); // another epoch needs another frame
    expect(() => encodeTickBatch(1, [{ epoch: 1, seq: 1, tick: t('x'.repeat(65)) }])).toThrow(RangeError);
  });

  it('never throws on a garbled batch payload that passed the checksum: rejected as E_BATCH or decoded whole', () => {
    fc.assert(
      fc.property(batchArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(), (m, edits, cut) => {
        const payload = Buffer.from(encode(m).subarray(HEADER_BYTES));
        for (const [at, v] of edits) payload[at % payload.length] = v;
        const cutTo = cut % 3 === 0 ? payload.length : cut % payload.length;
        const r = decodeTickBatch(payload.subarray(0, cutTo));
        if (!r.ok) expect(r.error.code).toBe('E_BATCH');
        else expect(r.message.kind).toBe('tick_batch');
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const payload = Buffer.from(bytes);
        const frame = Buffer.alloc(HEADER_BYTES + payload.length);
        frame.set([0xea, 0x7c, 1, 8]);
        frame.writeUInt32BE(payload.length, 4);
        frame.writeUInt32BE(crc32(payload) >>> 0, 8);
        payload.copy(frame, HEADER_BYTES);
        const [r] = decodeDatagram(frame);
        expect(r!.ok).toBe(false);
      }),
    );
  });

  it('names what is wrong with a rejected batch', () => {
    const tick: Tick = { symbol: 'EURUSD', bid: 1.1, ask: 1.2, last: 0, volume: 0, time_msc: 5, flags: 6 };
    const p = () => Buffer.from(encodeTickBatch(3, [{ epoch: 3, seq: 10, tick }, { epoch: 3, seq: 11, tick }]).subarray(HEADER_BYTES));
    const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
      ['count above the ticks present', (b) => (b.writeUInt16LE(3, 16), b), /truncated at tick 2 of 3/],
      ['count below them', (b) => (b.writeUInt16LE(1, 16), b), /bytes left after 1 ticks/],
      ['no ticks', (b) => (b.writeUInt16LE(0, 16), b), /no ticks/],
      ['a NaN price', (b) => (b.writeDoubleLE(NaN, 18 + 4 + 7 + 1), b), /not a finite number/],
      ['seq 0', (b) => (b.writeDoubleLE(0, 8), b), /seq 0 is not >= 1/],
      ['a dangling string ref', (b) => ((b[18 + 4] = 0x85), b), /unknown string 5/],
      ['a short head', (b) => b.subarray(0, 10), /shorter than its 18-byte head/],
    ];
    for (const [what, edit, msg] of cases) {
      const r = decodeTickBatch(edit(p()));
      expect(r.ok, what).toBe(false);
      expect((r as { ok: false; error: { code: string; message: string } }).error, what).toMatchObject({ code: 'E_BATCH', message: expect.stringMatching(msg) });
    }
  });
});

describe('tick_batch decode: object shape', () => {
  it('a tick with every optional field and one without come out with the same key order as before (one literal vs added fields)', () => {
    const full: Tick = { symbol: 'EURUSD', bid: 1.1, ask: 1.2, last: 0, volume: 0, time_msc: 5, flags: 6, seq: 3, epoch: 2, stream: 'EURUSD', volume_real: 0 };
    const bare: Tick = { symbol: 'EURUSD', bid: 1.1, ask: 1.2, last: 0, volume: 0, time_msc: 5, flags: 6, epoch: 2 };
    const r = decodeDatagram(encodeTickBatch(1, [{ epoch: 1, seq: 1, tick: full }, { epoch: 1, seq: 2, tick: bare }]))[0]!;
    if (!r.ok || r.message.kind !== 'tick_batch') throw new Error('not decoded');
    expect(Object.keys(r.message.ticks[0]!.tick)).toEqual(['symbol', 'bid', 'ask', 'last', 'volume', 'time_msc', 'flags', 'seq', 'epoch', 'stream', 'volume_real']);
    expect(Object.keys(r.message.ticks[1]!.tick)).toEqual(['symbol', 'bid', 'ask', 'last', 'volume', 'time_msc', 'flags', 'epoch']);
    expect(r.message.ticks.map((t) => t.tick)).toEqual([full, bare]);
  });
});
