import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { mergeFaults, noFaults, parseFaults, parseProfile } from '../../../simulator/broker/faults.ts';
import { parseLine } from '../../../simulator/broker/requests.ts';
import { LineSplitter, type LineEvent } from '../../../simulator/protocol/lines.ts';
import { buy, makeEngine } from './helpers.ts';

const known = (s: string) => ['EURUSD', 'GBPUSD'].includes(s);

describe('request parsing', () => {
  it('names the problem for each kind of bad line', () => {
    expect(parseLine('nope', known)).toMatchObject({ ok: false, id: null, error: { code: 'E_PARSE' } });
    expect(parseLine('[1,2]', known)).toMatchObject({ ok: false, error: { code: 'E_BAD_REQUEST' } });
    expect(parseLine('{"op":"ping"}', known)).toMatchObject({ ok: false, error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('id') } });
    expect(parseLine('{"id":1}', known)).toMatchObject({ ok: false, id: 1, error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('op') } });
    expect(parseLine('{"id":1,"op":"buy"}', known)).toMatchObject({ ok: false, error: { code: 'E_UNKNOWN_OP' } });
    expect(parseLine('{"id":1,"op":"order_send"}', known)).toMatchObject({ ok: false, error: { code: 'E_INVALID_PARAMS', message: expect.stringMatching(/^request/) } });
    expect(parseLine('{"id":"a","op":"order_send","request":{"action":1,"symbol":"EURUSD","volume":"1","type":0}}', known)).toMatchObject({
      id: 'a',
      ok: false,
      error: { code: 'E_INVALID_PARAMS', message: expect.stringContaining('request.volume') },
    });
    expect(parseLine('{"id":1,"op":"order_send","request":{"action":1,"symbol":"XAUEUR","volume":1,"type":0}}', known)).toMatchObject({
      ok: false,
      error: { code: 'E_UNKNOWN_SYMBOL', message: expect.stringContaining('XAUEUR') },
    });
    expect(parseLine('{"id":1,"op":"order_send","request":{"action":1,"symbol":"EURUSD","type":0}}', known)).toMatchObject({
      error: { code: 'E_INVALID_PARAMS', message: 'request.volume: required for action 1' },
    });
    expect(parseLine(`{"id":1,"op":"order_send","request":{"action":1,"symbol":"EURUSD","volume":1,"type":0,"comment":"${'x'.repeat(32)}"}}`, known)).toMatchObject({
      error: { code: 'E_INVALID_PARAMS', message: expect.stringContaining('request.comment') },
    });
    expect(parseLine('{"id":{"k":1},"op":"ping"}', known)).toEqual({ id: { k: 1 }, op: 'ping' });
  });

  it('property: no line makes the parser throw, and anything not a valid request is an error answer', () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ id: fc.jsonValue(), op: fc.oneof(fc.constantFrom('order_send', 'positions_get', 'symbol_info'), fc.string()) }).map((o) => JSON.stringify(o)),
      fc
        .record({ id: fc.integer(), op: fc.constant('order_send'), request: fc.dictionary(fc.constantFrom('action', 'volume', 'symbol', 'type', 'price', 'comment'), fc.jsonValue()) })
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(jsonish, (line) => {
        const r = parseLine(line, known);
        if ('ok' in r) return r.ok === false && typeof r.error.message === 'string' && r.error.message.length > 0;
        return typeof r.op === 'string';
      }),
      { numRuns: 2000 },
    );
  });
});

describe('line splitter', () => {
  it('property: any chunking yields the same lines; oversized lines are reported, never buffered past the limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 60, maxLength: 200 })), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (lines, cuts) => {
          const clean = lines.map((l) => l.replace(/[\r\n]/g, ''));
          const data = Buffer.from(clean.map((l) => `${l}\n`).join(''));
          const events: LineEvent[] = [];
          const sp = new LineSplitter(50, (e) => events.push(e));
          let at = 0;
          let k = 0;
          let maxBuffered = 0;
          while (at < data.length) {
            const n = cuts[k++ % cuts.length]!;
            sp.push(data.subarray(at, at + n));
            maxBuffered = Math.max(maxBuffered, sp.buffered());
            at += n;
          }
          const expected = clean
            .filter((l) => l.length > 0)
            .map((l) => (Buffer.byteLength(l) > 50 ? 'TOO_LONG' : l));
          const got = events.map((e) => ('line' in e ? e.line : 'TOO_LONG'));
          return maxBuffered <= 50 && JSON.stringify(got) === JSON.stringify(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('fault profiles', () => {
  it('rejects bad knobs naming the field', () => {
    expect(() => parseFaults({ rejectRate: 2 })).toThrow(/rejectRate/);
    expect(() => parseFaults({ latency: { fixedMs: -1 } })).toThrow(/latency\.fixedMs/);
    expect(() => parseFaults({ timeoutAfterExecution: { mode: 'explode' } })).toThrow(/timeoutAfterExecution\.mode/);
    expect(() => parseFaults({ bogus: 1 })).toThrow(ConfigError);
    expect(() => parseProfile({ broker: { marginMode: 'cash' } })).toThrow(/broker\.marginMode/);
    expect(() => parseProfile({ feed: { ticksPerSecond: 'fast' } })).toThrow(/feed\.ticksPerSecond/);
  });

  it('merges a patch deeply and validates the result', () => {
    const f = mergeFaults(noFaults(), { latency: { fixedMs: 5 }, rejectRate: 0.1 });
    expect(f.latency).toEqual({ fixedMs: 5, jitterMs: 0, tailProbability: 0, tailMs: 0 });
    expect(mergeFaults(f, { latency: { jitterMs: 2 } }).latency).toMatchObject({ fixedMs: 5, jitterMs: 2 });
    expect(() => mergeFaults(f, { requoteRate: -1 })).toThrow(/requoteRate/);
  });
});

describe('determinism of broker decisions', () => {
  it('same seed and same requests give the same results and ledger; another seed differs', () => {
    const faultsInput = { rejectRate: 0.2, requoteRate: 0.2, offQuotesRate: 0.1, partialFillRate: 0.5, timeoutAfterExecution: { rate: 0.2 }, latency: { jitterMs: 10 } };
    const go = (seed: number) => {
      const { engine } = makeEngine({ seed, faultsInput });
      const results = Array.from({ length: 200 }, (_, i) => engine.orderSend(buy({ comment: `c${i}`, type_filling: 1, volume: 1 })));
      return { results, deals: engine.ledger.deals };
    };
    const a = go(1);
    expect(go(1)).toEqual(a);
    expect(go(2).results.map((r) => r.retcode)).not.toEqual(a.results.map((r) => r.retcode));
    const codes = new Set(a.results.map((r) => r.retcode));
    for (const c of [10006, 10004, 10021, 10010, 10012, 10009]) expect(codes).toContain(c);
  });
});
