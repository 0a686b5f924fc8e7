import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxyHandle } from '../../../faultproxy/index.ts';
import { client, echoServer, http, portOf, until } from './helpers.ts';

let fp: FaultProxyHandle;
let echo: Awaited<ReturnType<typeof echoServer>>;
let keepPort: number;

beforeAll(async () => {
  fp = await startFaultProxy({ port: 0, seed: 3 });
  echo = await echoServer();
  const r = await http(fp.url, 'POST', '/proxies', { name: 'keep', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
  keepPort = portOf(r.json().listen);
});
afterAll(async () => {
  await fp?.stop();
  await echo?.close();
});

// 'keep' is never generated, so the fuzzer cannot legitimately break the proxy we check afterwards.
const name = fc.oneof(fc.constantFrom('fz', 'fz2', 'latency_downstream', 'x%20y', '%zz', '..', 'a.b'), fc.stringMatching(/^[a-z0-9_]{1,12}$/));
const path = fc.oneof(
  fc.constantFrom('/version', '/proxies', '/populate', '/reset', '/metrics', '/', '/proxies/', '/udp/proxies'),
  name.map((n) => `/proxies/${n}`),
  name.map((n) => `/proxies/${n}/toxics`),
  fc.tuple(name, name).map(([p, t]) => `/proxies/${p}/toxics/${t}`),
  name.map((n) => `/udp/proxies/${n}`),
  fc.webPath(),
);
const method = fc.constantFrom('GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS');
const listen = fc.constantFrom('127.0.0.1:0', 'localhost:0', '', 'bad', '127.0.0.1:99999', '[::1]:0', ':0', '127.0.0.1:x');
const anyJson = fc.jsonValue({ maxDepth: 3 });
const proxyBody = fc.record(
  { name, listen, upstream: fc.oneof(fc.constant(`127.0.0.1:1`), fc.string({ maxLength: 10 })), enabled: fc.oneof(fc.boolean(), anyJson) },
  { requiredKeys: [] },
);
const toxicBody = fc.record(
  {
    name,
    type: fc.oneof(fc.constantFrom('latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'noop', 'down'), fc.string({ maxLength: 8 })),
    stream: fc.oneof(fc.constantFrom('upstream', 'downstream', 'UpStream', ''), fc.string({ maxLength: 8 })),
    toxicity: fc.oneof(fc.double({ noNaN: true, min: -2, max: 2 }), anyJson),
    attributes: fc.oneof(fc.dictionary(fc.constantFrom('latency', 'jitter', 'rate', 'delay', 'timeout', 'average_size', 'size_variation', 'bytes'), fc.oneof(fc.integer(), fc.double({ noNaN: true }), anyJson)), anyJson),
  },
  { requiredKeys: [] },
);
const udpBody = fc.record({ name, listen, upstream: fc.constant('127.0.0.1:9'), impairments: anyJson }, { requiredKeys: [] });
const body = fc.oneof(
  fc.constant(undefined),
  anyJson.map((v) => JSON.stringify(v)),
  proxyBody.map((v) => JSON.stringify(v)),
  toxicBody.map((v) => JSON.stringify(v)),
  udpBody.map((v) => JSON.stringify(v)),
  fc.array(proxyBody, { maxLength: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
);

const ROUTED_ERRORS = new Set([400, 404, 409, 500]);

describe('API fuzzing', () => {
  it('answers every random request promptly, in Toxiproxy shape, and keeps forwarding', async () => {
    await fc.assert(
      fc.asyncProperty(method, path, body, async (m, p, b) => {
        const r = await http(fp.url, m, p, m === 'GET' || m === 'OPTIONS' ? undefined : b);
        if (r.status === 404 && r.text === '404 page not found\n') return;
        if (r.status === 405) {
          expect(r.text).toBe('');
          return;
        }
        if (r.status < 300) {
          if (r.text !== '' && p !== '/version') JSON.parse(r.text);
          return;
        }
        expect(ROUTED_ERRORS.has(r.status), `status ${r.status} for ${m} ${p}`).toBe(true);
        const e = r.json();
        expect(typeof e.error).toBe('string');
        expect(e.status).toBe(r.status);
        expect(r.text.endsWith('\n')).toBe(true);
      }),
      { numRuns: 400 },
    );
    // Still alive, still forwarding.
    expect((await http(fp.url, 'GET', '/version')).status).toBe(200);
    const c = await client(keepPort);
    c.socket.write('alive');
    await until('echo through the kept proxy', () => c.received().toString() === 'alive');
    c.socket.destroy();
  });
});
