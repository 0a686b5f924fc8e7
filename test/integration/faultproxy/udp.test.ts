import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultClient, startFaultProxy, type FaultProxyHandle, type UdpImpairmentPatch } from '../../../faultproxy/index.ts';
import { holdsFor, http, portOf, until } from './helpers.ts';

let fp: FaultProxyHandle;
let api: FaultClient;
/** Upstream: records every datagram and echoes it back to its sender, prefixed with "re:". */
let server: DgramSocket;
let serverPort: number;
const atServer: string[] = [];
const sockets: DgramSocket[] = [];

function udp(): Promise<{ sock: DgramSocket; got: string[] }> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    sock.bind(0, '127.0.0.1', () => resolve({ sock, got }));
    sockets.push(sock);
  });
}

async function relay(name: string, impairments?: UdpImpairmentPatch): Promise<number> {
  const r = await api.createUdpRelay({ name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${serverPort}`, ...(impairments ? { impairments } : {}) });
  return portOf(r.listen);
}

/**
 * Sends n numbered datagrams in batches, waiting after each batch until the
 * relay has taken them all in, so the kernel drops none by itself.
 */
async function sendMany(sock: DgramSocket, port: number, n: number, tag: string, relayName: string): Promise<void> {
  const base = (await api.getUdpRelay(relayName)).stats.upstream.received;
  for (let i = 0; i < n; i++) {
    await new Promise<void>((r) => sock.send(`${tag}:${i}`, port, '127.0.0.1', () => r()));
    if (i % 100 === 99 || i === n - 1) {
      await until(`relay took ${i + 1}`, async () => ((await api.getUdpRelay(relayName)).stats.upstream.received >= base + i + 1 ? true : undefined));
    }
  }
}

beforeAll(async () => {
  fp = await startFaultProxy({ port: 0, seed: 2024 });
  api = new FaultClient(fp.url);
  server = createSocket('udp4');
  server.on('message', (m, rinfo) => {
    atServer.push(m.toString());
    server.send(`re:${m.toString()}`, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  serverPort = server.address().port;
});
afterEach(async () => {
  atServer.length = 0;
  for (const s of sockets.splice(0)) s.close();
  for (const name of Object.keys((await http(fp.url, 'GET', '/udp/proxies')).json())) await api.removeUdpRelay(name);
});
afterAll(async () => {
  server?.close();
  await fp?.stop();
});

describe('UDP relay', () => {
  it('relays both ways and sends each reply to the client that asked', async () => {
    const port = await relay('plain');
    const a = await udp();
    const b = await udp();
    a.sock.send('from-a', port, '127.0.0.1');
    b.sock.send('from-b', port, '127.0.0.1');
    await until('replies', () => a.got.length === 1 && b.got.length === 1);
    expect(a.got).toEqual(['re:from-a']);
    expect(b.got).toEqual(['re:from-b']);
    const info = await api.getUdpRelay('plain');
    expect(info.sessions).toBe(2);
    expect(info.stats.upstream).toMatchObject({ received: 2, forwarded: 2, dropped: 0 });
  });

  it('loss 0.3 drops about 30 % (fixed seed, ±6 %), and the same seed drops the very same datagrams', async () => {
    const runOnce = async () => {
      const port = await relay('lossy', { upstream: { loss: 0.3 } });
      const c = await udp();
      await sendMany(c.sock, port, 1000, 'L', 'lossy');
      const info = await until('all processed', async () => {
        const i = await api.getUdpRelay('lossy');
        return i.stats.upstream.received === 1000 ? i : undefined;
      });
      await until('forwarded ones arrived', () => atServer.length === (info as Awaited<ReturnType<typeof api.getUdpRelay>>).stats.upstream.forwarded);
      const seen = [...atServer];
      atServer.length = 0;
      await api.removeUdpRelay('lossy');
      return seen;
    };
    const first = await runOnce();
    const second = await runOnce();
    expect(first.length / 1000).toBeGreaterThan(0.64);
    expect(first.length / 1000).toBeLessThan(0.76);
    expect(second).toEqual(first);
  });

  it('bursty loss drops in runs; duplication and reordering deliver every datagram, some twice or late', async () => {
    const port = await relay('mix', { upstream: { duplicate: 0.2, reorder: 0.2, reorder_window: 3 } });
    const c = await udp();
    await sendMany(c.sock, port, 500, 'M', 'mix');
    await until('dups and held ones arrived', async () => {
      const i = await api.getUdpRelay('mix');
      return i.stats.upstream.received === 500 && atServer.length === i.stats.upstream.forwarded ? true : undefined;
    });
    const nums = atServer.map((s) => Number(s.split(':')[1]));
    expect(new Set(nums).size).toBe(500);
    expect(nums.length).toBeGreaterThan(560);
    expect(nums.length).toBeLessThan(640);
    const outOfOrder = nums.filter((n, i) => i > 0 && n < nums[i - 1]!).length;
    expect(outOfOrder).toBeGreaterThan(20);

    atServer.length = 0;
    await api.updateUdpRelay('mix', { impairments: { upstream: { duplicate: 0, reorder: 0, burst: { enter: 0.05, exit: 0.25, loss: 1 } } } });
    await sendMany(c.sock, port, 2000, 'B', 'mix');
    const info = await until('processed', async () => {
      const i = await api.getUdpRelay('mix');
      return i.stats.upstream.received === 2500 ? i : undefined;
    });
    const dropped = (info as { stats: { upstream: { dropped: number } } }).stats.upstream.dropped;
    // Stationary loss enter/(enter+exit) ≈ 16.7 %.
    expect(dropped / 2000).toBeGreaterThan(0.1);
    expect(dropped / 2000).toBeLessThan(0.24);
  });

  it('latency with jitter delays replies; down blackholes without closing, and comes back', async () => {
    const port = await relay('slow', { downstream: { latency: 80, jitter: 10 } });
    const c = await udp();
    const t0 = performance.now();
    c.sock.send('x', port, '127.0.0.1');
    await until('reply', () => c.got.length === 1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(68);

    await api.updateUdpRelay('slow', { impairments: { both: { down: true, latency: 0, jitter: 0 } } });
    c.sock.send('y', port, '127.0.0.1');
    await holdsFor('blackholed', () => c.got.length === 1 && atServer.length === 1, 150);
    await api.updateUdpRelay('slow', { impairments: { both: { down: false } } });
    c.sock.send('z', port, '127.0.0.1');
    await until('back', () => c.got.length === 2);
    expect(c.got[1]).toBe('re:z');
  });

  it('reset clears impairments; bad impairments get the error shape; Toxiproxy listing ignores relays', async () => {
    await relay('r', { both: { loss: 1 } });
    expect((await http(fp.url, 'GET', '/proxies')).text).toBe('{}');
    await api.reset();
    expect((await api.getUdpRelay('r')).impairments.upstream.loss).toBe(0);
    const bad = await http(fp.url, 'POST', '/udp/proxies/r', { impairments: { upstream: { loss: 2 } } });
    expect([bad.status, bad.json()]).toEqual([400, { error: 'bad request body: impairments.loss must be a probability between 0 and 1', status: 400 }]);
    await expect(api.getUdpRelay('none')).rejects.toMatchObject({ code: 'E_PROXY_NOT_FOUND' });
  });
});
