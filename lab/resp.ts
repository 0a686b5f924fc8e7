import { connect } from 'node:net';

export type RespValue = string | number | null | RespValue[] | Error;

/**
 * A one-shot RESP command over a fresh socket. Readiness checks use this
 * instead of ioredis: no reconnect logic, no offline queue, nothing to leak.
 */
export function redisCommand(host: string, port: number, args: string[], timeoutMs = 1000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (err: Error | null, v?: RespValue) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(v as RespValue);
    };
    const timer = setTimeout(() => done(new Error(`redis ${host}:${port} ${args[0]} timed out after ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (e) => done(e));
    sock.on('connect', () => {
      let cmd = `*${args.length}\r\n`;
      for (const a of args) cmd += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      sock.write(cmd);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseResp(buf, 0);
      if (parsed) done(null, parsed.value);
    });
  });
}

function parseResp(buf: Buffer, at: number): { value: RespValue; end: number } | undefined {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, nl);
  switch (type) {
    case '+':
      return { value: line, end: nl + 2 };
    case '-':
      return { value: new Error(line), end: nl + 2 };
    case ':':
      return { value: Number(line), end: nl + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: nl + 2 };
      if (buf.length < nl + 2 + len + 2) return undefined;
      return { value: buf.toString('utf8', nl + 2, nl + 2 + len), end: nl + 2 + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 2 };
      const items: RespValue[] = [];
      let pos = nl + 2;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      return { value: new Error(`unexpected RESP type ${type}`), end: buf.length };
  }
}

/** Turn a flat [k1, v1, k2, v2] RESP array into an object. */
export function respPairs(v: RespValue): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(v)) return out;
  for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = String(v[i + 1]);
  return out;
}
