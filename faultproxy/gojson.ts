/**
 * Request-body decoding that behaves like Go's `encoding/json` as Toxiproxy
 * uses it: only the first JSON value is read (trailing bytes are ignored), an
 * empty body is `EOF`, keys match struct fields case-insensitively (when
 * two keys map to one field, the later one wins), `null` leaves a field at its default,
 * and type mismatches produce Go's `json: cannot unmarshal ...` text. Clients
 * and users compare these strings, so the wording follows Go's.
 */

export class GoJsonError extends Error {}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** A parsed number keeps its literal, so `1.5` can be reported as Go reports it. */
export class JsonNumber {
  constructor(
    readonly literal: string,
    readonly value: number,
  ) {}
}

export type RawValue = null | boolean | JsonNumber | string | RawValue[] | RawObject;
/** Keys in source order, duplicates kept. */
export class RawObject {
  readonly entries: Array<[string, RawValue]> = [];
}

function describeChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  const code = c.charCodeAt(0);
  if (code < 0x20) return `'\\x${code.toString(16).padStart(2, '0')}'`;
  return `'${c}'`;
}

/** Parses the first JSON value of `text`; the rest is ignored like Go's Decoder. */
export function parseFirstValue(text: string): RawValue {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  ws();
  if (i >= n) throw new GoJsonError('EOF');
  // Depth guard: a hostile body of 100k '[' must not blow the stack.
  let depth = 0;
  const value = (context: string): RawValue => {
    ws();
    if (i >= n) throw new GoJsonError('unexpected EOF');
    const c = text[i]!;
    if (c === '{') {
      if (++depth > 1000) throw new GoJsonError('exceeded max depth');
      i++;
      const obj = new RawObject();
      ws();
      if (i >= n) throw new GoJsonError('unexpected EOF');
      if (text[i] === '}') {
        i++;
        depth--;
        return obj;
      }
      for (;;) {
        ws();
        if (i >= n) throw new GoJsonError('unexpected EOF');
        if (text[i] !== '"') throw new GoJsonError(`invalid character ${describeChar(text[i]!)} looking for beginning of object key string`);
        const key = str();
        ws();
        if (i >= n) throw new GoJsonError('unexpected EOF');
        if (text[i] !== ':') throw new GoJsonError(`invalid character ${describeChar(text[i]!)} after object key`);
        i++;
        const v = value('value');
        obj.entries.push([key, v]);
        ws();
        if (i >= n) throw new GoJsonError('unexpected EOF');
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          depth--;
          return obj;
        }
        throw new GoJsonError(`invalid character ${describeChar(text[i]!)} after object key:value pair`);
      }
    }
    if (c === '[') {
      if (++depth > 1000) throw new GoJsonError('exceeded max depth');
      i++;
      const arr: RawValue[] = [];
      ws();
      if (i >= n) throw new GoJsonError('unexpected EOF');
      if (text[i] === ']') {
        i++;
        depth--;
        return arr;
      }
      for (;;) {
        arr.push(value('value'));
        ws();
        if (i >= n) throw new GoJsonError('unexpected EOF');
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          depth--;
          return arr;
        }
        throw new GoJsonError(`invalid character ${describeChar(text[i]!)} after array element`);
      }
    }
    if (c === '"') return str();
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    for (const [lit, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
      if (c === lit[0]) {
        // Go reports the first byte that breaks the literal.
        let k = 0;
        while (i + k < n && text[i + k] === lit[k]) k++;
        if (i + k >= n) throw new GoJsonError('unexpected EOF');
        throw new GoJsonError(`invalid character ${describeChar(text[i + k]!)} in literal ${lit} (expecting ${describeChar(lit[k]!)})`);
      }
    }
    throw new GoJsonError(`invalid character ${describeChar(c)} looking for beginning of ${context}`);
  };
  const str = (): string => {
    const start = i;
    i++;
    let hasEscape = false;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        const raw = text.slice(start, i);
        if (!hasEscape) return raw.slice(1, -1);
        try {
          return JSON.parse(raw) as string;
        } catch {
          throw new GoJsonError('invalid character in string escape code');
        }
      }
      if (c === 0x5c) {
        hasEscape = true;
        i += 2;
        continue;
      }
      if (c < 0x20) throw new GoJsonError(`invalid character ${describeChar(text[i]!)} in string literal`);
      i++;
    }
    throw new GoJsonError('unexpected EOF');
  };
  const num = (): JsonNumber => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '-') {
      if (i + 1 >= n) throw new GoJsonError('unexpected EOF');
      throw new GoJsonError(`invalid character ${describeChar(text[i + 1]!)} in numeric literal`);
    }
    i += m[0].length;
    return new JsonNumber(m[0], Number(m[0]));
  };
  return value('value');
}

export type FieldKind = 'string' | 'bool' | 'int64' | 'float32';

export interface StructField {
  /** JSON name as Go's tag spells it. */
  json: string;
  kind: FieldKind;
}

function kindOf(v: RawValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  if (v instanceof JsonNumber) return 'number';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

const GO_TYPE: Record<FieldKind, string> = { string: 'string', bool: 'bool', int64: 'int64', float32: 'float32' };

/**
 * Decode `raw` into a struct with the given fields. Returns the fields that
 * were present (and non-null); throws GoJsonError with Go's wording for the
 * first type mismatch, as Go's decoder does after finishing the value.
 */
export function decodeStruct(raw: RawValue, goType: string, fields: readonly StructField[]): Record<string, unknown> {
  if (raw === null) return {};
  if (!(raw instanceof RawObject)) {
    throw new GoJsonError(`json: cannot unmarshal ${kindOf(raw)} into Go value of type ${goType}`);
  }
  const out: Record<string, unknown> = {};
  let firstError: GoJsonError | undefined;
  const shortType = goType.includes('.') ? goType.slice(goType.lastIndexOf('.') + 1) : goType;
  for (const [key, v] of raw.entries) {
    const field = fields.find((f) => f.json === key) ?? fields.find((f) => f.json.toLowerCase() === key.toLowerCase());
    if (!field) continue;
    if (v === null) continue;
    const fail = (what: string) => {
      firstError ??= new GoJsonError(`json: cannot unmarshal ${what} into Go struct field ${shortType}.${field.json} of type ${GO_TYPE[field.kind]}`);
    };
    switch (field.kind) {
      case 'string':
        if (typeof v === 'string') out[field.json] = v;
        else fail(kindOf(v));
        break;
      case 'bool':
        if (typeof v === 'boolean') out[field.json] = v;
        else fail(kindOf(v));
        break;
      case 'int64':
        if (v instanceof JsonNumber) {
          if (/^-?[0-9]+$/.test(v.literal) && Number.isSafeInteger(v.value)) out[field.json] = v.value;
          else fail(`number ${v.literal}`);
        } else fail(kindOf(v));
        break;
      case 'float32':
        if (v instanceof JsonNumber) {
          const f = Math.fround(v.value);
          if (Number.isFinite(f)) out[field.json] = f;
          else fail(`number ${v.literal}`);
        } else fail(kindOf(v));
        break;
    }
  }
  if (firstError) throw firstError;
  return out;
}

/** Finds a key case-insensitively; like Go's decoder, the last matching key wins. */
export function rawField(raw: RawValue, name: string): RawValue | undefined {
  if (!(raw instanceof RawObject)) return undefined;
  let found: RawValue | undefined;
  for (const [k, v] of raw.entries) if (k.toLowerCase() === name.toLowerCase()) found = v;
  return found;
}

/** Go's shortest float32 formatting (`0.1` rather than `0.10000000149011612`). */
export function formatFloat32(f: number): string {
  if (Number.isInteger(f) && Math.abs(f) < 1e21) return String(f);
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p));
    if (Math.fround(s) === f) return String(s);
  }
  return String(f);
}
