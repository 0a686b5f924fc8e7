import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '../../../core/random.ts';
import { FaultClient, startFaultProxy, type FaultProxyHandle, type ToxicBody } from '../../../faultproxy/index.ts';
import { client, portOf, until } from './helpers.ts';

/** The stream is this pattern repeated; its length is prime, so no chunk size lines up with it. */
const PERIOD = 1_048_573;
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(PERIOD + 65_536);
  const r = createRandom(5);
  for (let i = 0; i < PERIOD; i++) b[i] = r.int(0, 255);
  b.copy(b, PERIOD, 0, 65_536);
  return b;
})();
const CHUNK = 16_384;

/** Writes the sequence at a steady pace (16 KiB per ms at most) while `running()`, honouring backpressure. */
function produce(sock: Socket, running: () => boolean): { sent: () => number; done: Promise<void> } {
  let sent = 0;
  const done = new Promise<void>((resolve) => {
    const pump = () => {
      if (!running() || sock.destroyed) return resolve();
      const off = sent % PERIOD;
      sent += CHUNK;
      if (sock.write(PATTERN.subarray(off, off + CHUNK))) setTimeout(pump, 1);
      else sock.once('drain', pump);
    };
    setImmediate(pump);
  });
  return { sent: () => sent, done };
}

/** Checks every received byte against the sequence. */
function verify(sock: Socket): { received: () => number; firstBad: () => number } {
  let received = 0;
  let firstBad = -1;
  sock.on('data', (d: Buffer) => {
    let k = 0;
    while (k < d.length && firstBad < 0) {
      const off = (received + k) % PERIOD;
      const n = Math.min(d.length - k, 65_536);
      if (d.compare(PATTERN, off, off + n, k, k + n) !== 0) firstBad = received + k;
      k += n;
    }
    received += d.length;
  });
  return { received: () => received, firstBad: () => firstBad };
}

let fp: FaultProxyHandle;
let upstream: Server;
let upSock: Socket | undefined;

beforeAll(async () => {
  fp = await startFaultProxy({ port: 0, seed: 99 });
  upstream = createServer((s) => {
    upSock = s;
    s.on('error', () => {});
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  upSock?.destroy();
  await new Promise<void>((r) => upstream.close(() => r()));
  await fp?.stop();
});

describe('steady stream under toxic churn', () => {
  it('loses, duplicates and reorders nothing in either direction while 150 toxics come and go', async () => {
    const api = new FaultClient(fp.url);
    const p = await api.createProxy({ name: 'churn', listen: '127.0.0.1:0', upstream: `127.0.0.1:${(upstream.address() as { port: number }).port}` });
    const c = await client(portOf(p.listen));
    await until('upstream accepted', () => upSock);
    const up = upSock!;
    let running = true;
    const toUp = produce(c.socket, () => running);
    const toClient = produce(up, () => running);
    const atUp = verify(up);
    const atClient = verify(c.socket);

    const rnd = createRandom(1234);
    const kinds: Array<() => ToxicBody> = [
      () => ({ type: 'latency', attributes: { latency: rnd.int(0, 5), jitter: rnd.int(0, 3) } }),
      () => ({ type: 'slicer', attributes: { average_size: rnd.int(1, 4096), size_variation: rnd.int(0, 2048), delay: rnd.int(0, 200) } }),
      () => ({ type: 'bandwidth', attributes: { rate: rnd.int(1000, 100_000) } }),
      () => ({ type: 'noop', attributes: {} }),
    ];
    for (let i = 0; i < 150; i++) {
      const name = `t${i}`;
      const stream = i % 2 === 0 ? 'upstream' : 'downstream';
      await api.addToxic('churn', { ...rnd.pick(kinds)(), name, stream });
      if (i % 3 === 0) {
        const t = await api.getToxic('churn', name);
        if (t.type === 'latency') await api.updateToxic('churn', name, { attributes: { latency: rnd.int(0, 5) } });
      }
      await api.removeToxic('churn', name);
    }
    running = false;
    await Promise.all([toUp.done, toClient.done]);
    await until('upstream got every byte', () => atUp.received() === toUp.sent() || atUp.firstBad() >= 0, 20_000);
    await until('client got every byte', () => atClient.received() === toClient.sent() || atClient.firstBad() >= 0, 20_000);
    expect(atUp.firstBad()).toBe(-1);
    expect(atClient.firstBad()).toBe(-1);
    expect(atUp.received()).toBe(toUp.sent());
    expect(atClient.received()).toBe(toClient.sent());
    // The churn really happened on a busy connection.
    expect(toUp.sent()).toBeGreaterThan(1 << 20);
    c.socket.destroy();
  });
});
