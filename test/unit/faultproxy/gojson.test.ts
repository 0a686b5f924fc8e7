import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeStruct, formatFloat32, GoJsonError, JsonNumber, parseFirstValue, RawObject, type RawValue } from '../../../faultproxy/gojson.ts';
import { decodeAttributes } from '../../../faultproxy/toxics.ts';

const PROXY = [
  { json: 'name', kind: 'string' },
  { json: 'enabled', kind: 'bool' },
] as const;

function plain(v: RawValue): unknown {
  if (v instanceof JsonNumber) return v.value;
  if (v instanceof RawObject) return Object.fromEntries(v.entries.map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

describe('Go-style JSON decoding', () => {
  it('reads only the first value and ignores trailing bytes', () => {
    expect(plain(parseFirstValue('{"a":1} trailing garbage {'))).toEqual({ a: 1 });
  });

  it('an empty body is EOF, a cut one is unexpected EOF, a bad one names the character', () => {
    expect(() => parseFirstValue('  ')).toThrow(new GoJsonError('EOF'));
    expect(() => parseFirstValue('{"a":')).toThrow(new GoJsonError('unexpected EOF'));
    expect(() => parseFirstValue('xyz')).toThrow(new GoJsonError("invalid character 'x' looking for beginning of value"));
  });

  it('matches keys case-insensitively, lets the later of two matching keys win (as Go does), and lets null keep the default', () => {
    expect(decodeStruct(parseFirstValue('{"NAME":"a","Enabled":false}'), 'toxiproxy.Proxy', PROXY)).toEqual({ name: 'a', enabled: false });
    expect(decodeStruct(parseFirstValue('{"name":"exact","Name":"folded"}'), 'toxiproxy.Proxy', PROXY)).toEqual({ name: 'folded' });
    expect(decodeStruct(parseFirstValue('{"name":null}'), 'toxiproxy.Proxy', PROXY)).toEqual({});
  });

  it("reports type mismatches in Go's words", () => {
    expect(() => decodeStruct(parseFirstValue('{"enabled":"yes"}'), 'toxiproxy.Proxy', PROXY)).toThrow(
      'json: cannot unmarshal string into Go struct field Proxy.enabled of type bool',
    );
    expect(() => decodeAttributes('latency', parseFirstValue('{"latency":1.5}'))).toThrow(
      'json: cannot unmarshal number 1.5 into Go struct field LatencyToxic.latency of type int64',
    );
    expect(() => decodeStruct(parseFirstValue('[1]'), 'toxiproxy.Proxy', PROXY)).toThrow('json: cannot unmarshal array into Go value of type toxiproxy.Proxy');
  });

  it('merges attributes into the base and zero-fills the rest', () => {
    expect(decodeAttributes('latency', parseFirstValue('{"latency":1000}'), { latency: 100, jitter: 10 })).toEqual({ latency: 1000, jitter: 10 });
    expect(decodeAttributes('slicer', undefined)).toEqual({ average_size: 0, size_variation: 0, delay: 0 });
  });

  it('prints float32 values in shortest form', () => {
    expect(formatFloat32(Math.fround(0.1))).toBe('0.1');
    expect(formatFloat32(Math.fround(0.5))).toBe('0.5');
    expect(formatFloat32(1)).toBe('1');
  });

  it('agrees with JSON.parse on every valid document', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const text = JSON.stringify(v);
        expect(plain(parseFirstValue(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but GoJsonError on arbitrary text, and survives deep nesting', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        try {
          parseFirstValue(s);
        } catch (e) {
          expect(e).toBeInstanceOf(GoJsonError);
        }
      }),
      { numRuns: 500 },
    );
    expect(() => parseFirstValue('['.repeat(100_000))).toThrow(GoJsonError);
  });
});
