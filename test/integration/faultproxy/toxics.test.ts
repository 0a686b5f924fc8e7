import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxyHandle } from '../../../faultproxy/index.ts';
import { freePort } from '../../../lab/ports.ts';
import { client, echoServer, holdsFor, http, portOf, until, type Client } from './helpers.ts';

let fp: FaultProxyHandle;
let echo: Awaited<ReturnType<typeof echoServer>>;
const opened: Client[] = [];
const req = (method: string, path: string, body?: object) => http(fp.url, method, path, body);

async function proxy(name: string, upstream = `127.0.0.1:${echo.port}`): Promise<number> {
  const r = await req('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream });
  expect(r.status).toBe(201);
  return portOf(r.json().listen);
}
async function toxic(proxyName: string, body: object): Promise<void> {
  const r = await req('POST', `/proxies/${proxyName}/toxics`, body);
  expect(r.status).toBe(200);
}
async function open(port: number): Promise<Client> {
  const c = await client(port);
  c.socket.on('error', () => {});
  opened.push(c);
  return c;
}

/** An upstream that sends `payload` on connect and then closes (optionally), recording what it receives. */
async function talker(payload: Buffer, closeAfter: boolean) {
  const got: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('data', (d) => got.push(d));
    s.write(payload);
    if (closeAfter) s.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    got,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

beforeAll(async () => {
  fp = await startFaultProxy({ port: 0, seed: 7 });
  echo = await echoServer();
});
afterEach(async () => {
  for (const c of opened.splice(0)) c.socket.destroy();
  for (const name of Object.keys((await req('GET', '/proxies')).json())) await req('DELETE', `/proxies/${name}`);
});
afterAll(async () => {
  await fp?.stop();
  await echo?.close();
});

async function roundTrip(c: Client, text: string): Promise<number> {
  const before = c.received().length;
  const t0 = performance.now();
  c.socket.write(text);
  await until('echo', () => c.received().length >= before + text.length, 10_000);
  return performance.now() - t0;
}

describe('toxics on the wire', () => {
  it('no toxics: bytes pass both ways unchanged', async () => {
    const c = await open(await proxy('plain'));
    await roundTrip(c, 'hello');
    expect(c.received().toString()).toBe('hello');
  });

  it('latency downstream delays responses, upstream latency adds to it; noop and toxicity 0 do nothing', async () => {
    const port = await proxy('lat');
    await toxic('lat', { type: 'latency', attributes: { latency: 150 } });
    const c = await open(port);
    const t1 = await roundTrip(c, 'a');
    expect(t1).toBeGreaterThanOrEqual(145);
    await toxic('lat', { type: 'latency', stream: 'upstream', attributes: { latency: 100 } });
    const t2 = await roundTrip(c, 'b');
    expect(t2).toBeGreaterThanOrEqual(245);
    await req('DELETE', '/proxies/lat/toxics/latency_downstream');
    await req('DELETE', '/proxies/lat/toxics/latency_upstream');
    await toxic('lat', { type: 'noop' });
    await toxic('lat', { name: 'never', type: 'latency', toxicity: 0, attributes: { latency: 5000 } });
    const t3 = await roundTrip(c, 'c');
    expect(t3).toBeLessThan(1000);
  });

  it('bandwidth limits the rate; rate 0 holds the data until the toxic is removed, losing nothing', async () => {
    const payload = Buffer.alloc(60_000, 7);
    const up = await talker(payload, false);
    try {
      const port = await proxy('bw', `127.0.0.1:${up.port}`);
      await toxic('bw', { type: 'bandwidth', attributes: { rate: 100 } }); // 100 KB/s: 60 KB ≈ 600 ms
      const t0 = performance.now();
      const c = await open(port);
      await until('all bytes', () => c.received().length === payload.length, 10_000);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(500);

      await req('POST', '/proxies/bw/toxics/bandwidth_downstream', { attributes: { rate: 0 } });
      const c2 = await open(port);
      await until('upstream accepted', () => up.sockets.size >= 2);
      // Held, not dropped and not closed.
      await holdsFor('rate 0 holds', () => c2.received().length === 0 && !c2.closed, 200);
      await req('DELETE', '/proxies/bw/toxics/bandwidth_downstream');
      await until('released', () => c2.received().length === payload.length);
      expect(c2.received().equals(payload)).toBe(true);
    } finally {
      await up.close();
    }
  });

  it('slow_close delays the close but not the data', async () => {
    const up = await talker(Buffer.from('bye'), true);
    try {
      const port = await proxy('sc', `127.0.0.1:${up.port}`);
      await toxic('sc', { type: 'slow_close', attributes: { delay: 800 } });
      const t0 = performance.now();
      const c = await open(port);
      await until('data', () => c.received().toString() === 'bye');
      const tData = performance.now() - t0;
      await until('closed', () => c.ended, 5000);
      // Data at once, the close only after the delay (margins sized for a loaded 2-core machine).
      expect(tData).toBeLessThan(600);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(790);
    } finally {
      await up.close();
    }
  });

  it('timeout drops the data and closes both sides after the timeout', async () => {
    const port = await proxy('to');
    await toxic('to', { type: 'timeout', stream: 'upstream', attributes: { timeout: 300 } });
    const t0 = performance.now();
    const c = await open(port);
    c.socket.write('lost');
    await until('closed by timeout', () => c.ended, 5000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(c.received().length).toBe(0);
  });

  it('timeout 0 drops forever and keeps the connection; removing the toxic closes it', async () => {
    const port = await proxy('to0');
    await toxic('to0', { type: 'timeout', attributes: { timeout: 0 } });
    const c = await open(port);
    c.socket.write('dropped');
    await until('echo upstream side saw it', () => echo.sockets.size > 0);
    await holdsFor('timeout 0 drops and stays open', () => c.received().length === 0 && !c.closed, 150);
    const t0 = performance.now();
    await req('DELETE', '/proxies/to0/toxics/timeout_downstream');
    await until('closed on removal', () => c.ended, 1000);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('reset_peer resets the connection after its timeout', async () => {
    const port = await proxy('rp');
    await toxic('rp', { type: 'reset_peer', stream: 'upstream', attributes: { timeout: 100 } });
    const c = await open(port);
    const t0 = performance.now();
    c.socket.write('x');
    await until('reset', () => c.closed, 5000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
    expect(c.error?.code).toBe('ECONNRESET');
    expect(c.received().length).toBe(0);
  });

  it('slicer keeps every byte in order and its delay adds time', async () => {
    const port = await proxy('sl');
    await toxic('sl', { type: 'slicer', attributes: { average_size: 100, size_variation: 50, delay: 20_000 } });
    const c = await open(port);
    const payload = Buffer.from(Array.from({ length: 2000 }, (_, i) => i % 251));
    const t0 = performance.now();
    c.socket.write(payload);
    await until('all', () => c.received().length === payload.length, 10_000);
    // ≥ 2000/150 pieces with 20 ms between them.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);
    expect(c.received().equals(payload)).toBe(true);
  });

  it('limit_data forwards exactly the limit, then closes the connection', async () => {
    const port = await proxy('ld');
    await toxic('ld', { type: 'limit_data', attributes: { bytes: 10 } });
    const c = await open(port);
    c.socket.write('0123456789abcdef');
    await until('closed', () => c.ended, 5000);
    expect(c.received().toString()).toBe('0123456789');
  });

  it('an unreachable upstream gives accept-then-EOF, not ECONNREFUSED; a disabled proxy refuses', async () => {
    const port = await proxy('down', `127.0.0.1:${await freePort()}`);
    const c = await open(port);
    await until('EOF', () => c.closed, 5000);
    expect(c.error).toBeUndefined();
    await req('POST', '/proxies/down', { enabled: false });
    await expect(client(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('toxicity is drawn per connection from the seed: about half are hit at 0.5, the same ones for the same seed', async () => {
    const pattern = async (seed: number) => {
      const other = await startFaultProxy({ port: 0, seed });
      try {
        const r = await http(other.url, 'POST', '/proxies', { name: 'half', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
        await http(other.url, 'POST', '/proxies/half/toxics', { type: 'latency', toxicity: 0.5, attributes: { latency: 500 } });
        const port = portOf(r.json().listen);
        // Connect one at a time so connection ids (and so the draws) follow a fixed order.
        const cs: Client[] = [];
        for (let i = 0; i < 40; i++) {
          const c = await open(port);
          await until('upstream side connected', () => echo.sockets.size >= i + 1);
          cs.push(c);
        }
        const times = await Promise.all(cs.map((c) => roundTrip(c, 'p')));
        for (const c of cs) c.socket.destroy();
        await until('echo sockets closed', () => echo.sockets.size === 0);
        return times.map((t) => (t >= 350 ? 1 : 0));
      } finally {
        await other.stop();
      }
    };
    const a = await pattern(11);
    const b = await pattern(11);
    const hit = a.reduce((s: number, x) => s + x, 0);
    expect(hit).toBeGreaterThanOrEqual(10);
    expect(hit).toBeLessThanOrEqual(30);
    expect(b).toEqual(a);
  });

  it('no half-close: a client that shuts down its write side gets the whole connection closed', async () => {
    const c = await open(await proxy('hc'));
    await roundTrip(c, 'x');
    c.socket.end();
    await until('fully closed', () => c.ended, 5000);
  });
});
