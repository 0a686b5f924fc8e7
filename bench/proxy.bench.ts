/**
 * Fault proxy benchmark (`npm run bench:proxy`). The proxy runs as the lab runs
 * it: `ea-chaos proxy --port 0` in a child process. The echo/sink/source
 * servers and the clients live in this process, for both the direct and the
 * proxied runs, so the difference is what the proxy adds. A bare Node
 * `pipe()` relay in its own process is measured beside it as the floor of any
 * Node relay process. The API target is judged on the server (a keep-alive
 * `node:http` client); the path through toxiproxy-node-client is reported too.
 */
import { spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRandom } from '../core/random.ts';
import { FaultClient } from '../faultproxy/client.ts';

const BIN = join(import.meta.dirname, '../bin/ea-chaos.js');

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function listen(server: Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function startProxyChild(): Promise<{ api: string; stop: () => Promise<void> }> {
  const busyPoll = process.env.BENCH_BUSY_POLL_US ? ['--busy-poll-us', process.env.BENCH_BUSY_POLL_US] : [];
  const child = spawn(process.execPath, [BIN, 'proxy', '--port', '0', '--seed', '1', ...busyPoll], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, EA_CHAOS_LOG_LEVEL: 'warn' },
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`proxy exited ${c}`)));
  });
  const { api } = JSON.parse(line) as { api: string };
  return {
    api,
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

function ping(s: Socket, msg: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    let got = 0;
    const on = (d: Buffer) => {
      got += d.length;
      if (got >= msg.length) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
    s.write(msg);
  });
}

/**
 * Ping-pong of 64 bytes, round-robin over the ports (direct first) so every
 * path sees the same background noise. Returns sorted µs per port.
 */
async function rtt(ports: number[], n: number): Promise<number[][]> {
  const socks = await Promise.all(ports.map((p) => dial(p)));
  const msg = Buffer.alloc(64, 1);
  const out = ports.map(() => [] as number[]);
  for (let i = 0; i < n + 500; i++) {
    for (let k = 0; k < socks.length; k++) {
      const t0 = process.hrtime.bigint();
      await ping(socks[k]!, msg);
      if (i >= 500) out[k]!.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  }
  for (const s of socks) s.destroy();
  return out.map((xs) => xs.sort((a, b) => a - b));
}

/**
 * The floor for any Node relay process: a bare `socket.pipe()` pair in a child
 * process, no API, no toxics. What ours adds above it is the proxy's own cost;
 * the rest is the process hop itself (see docs/performance.md § Fault proxy).
 */
async function startBareRelay(upstreamPort: number): Promise<{ port: number; stop: () => void }> {
  const src = `const net=require('net');const s=net.createServer(c=>{c.setNoDelay(true);const u=net.connect({port:${upstreamPort},host:'127.0.0.1',noDelay:true});c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`bare relay exited ${c}`)));
  });
  return { port: Number(line), stop: () => child.kill('SIGTERM') };
}

/** A plain keep-alive HTTP/1.1 client: what the API server itself costs, without fetch's overhead. */
function keepAliveCaller(base: string): { call: (method: string, path: string, body?: unknown) => Promise<number>; close: () => void } {
  const u = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method: string, path: string, body?: unknown) =>
    new Promise<number>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {};
      const req = httpRequest({ host: u.hostname, port: u.port, method, path, agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(data);
    });
  return { call, close: () => agent.destroy() };
}

/** `conns` clients write as fast as backpressure allows for `ms`; returns MB/s received by the sink. */
async function throughput(port: number, sinkBytes: () => number, conns: number, ms: number): Promise<number> {
  const block = Buffer.alloc(64 * 1024, 7);
  const sockets = await Promise.all(Array.from({ length: conns }, () => dial(port)));
  let running = true;
  for (const s of sockets) {
    s.on('error', () => {});
    const pump = () => {
      while (running && s.write(block));
      if (running) s.once('drain', pump);
    };
    pump();
  }
  await new Promise((r) => setTimeout(r, 300));
  const b0 = sinkBytes();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const mbs = (sinkBytes() - b0) / 1e6 / ((performance.now() - t0) / 1000);
  running = false;
  for (const s of sockets) s.destroy();
  // Let the previous run's in-flight bytes land before the next window starts counting.
  let last = -1;
  while (sinkBytes() !== last) {
    last = sinkBytes();
    await new Promise((r) => setTimeout(r, 100));
  }
  return mbs;
}

const PERIOD = 1_048_573;
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(PERIOD + 65_536);
  const r = createRandom(5);
  for (let i = 0; i < PERIOD; i++) b[i] = r.int(0, 255);
  b.copy(b, PERIOD, 0, 65_536);
  return b;
})();

async function churn(api: FaultClient, cycles: number): Promise<{ sent: number; received: number; mismatches: number; ms: number }> {
  let received = 0;
  let mismatches = 0;
  const sink = createServer((s) => {
    s.on('data', (d: Buffer) => {
      let k = 0;
      while (k < d.length) {
        const off = (received + k) % PERIOD;
        const n = Math.min(d.length - k, 65_536);
        if (d.compare(PATTERN, off, off + n, k, k + n) !== 0) mismatches++;
        k += n;
      }
      received += d.length;
    });
    s.on('error', () => {});
  });
  const sinkPort = await listen(sink);
  const p = await api.createProxy({ name: 'churn', listen: '127.0.0.1:0', upstream: `127.0.0.1:${sinkPort}` });
  const c = await dial(Number(p.listen.split(':')[1]));
  let sent = 0;
  let running = true;
  const pump = () => {
    if (!running) return;
    const off = sent % PERIOD;
    sent += 16_384;
    if (c.write(PATTERN.subarray(off, off + 16_384))) setTimeout(pump, 1);
    else c.once('drain', pump);
  };
  pump();
  const rnd = createRandom(77);
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) {
    const kind = i % 4;
    const name = `t${i}`;
    if (kind === 0) await api.addToxic('churn', { name, type: 'latency', stream: 'upstream', attributes: { latency: rnd.int(0, 3), jitter: 1 } });
    else if (kind === 1) await api.addToxic('churn', { name, type: 'slicer', stream: 'upstream', attributes: { average_size: rnd.int(1, 2048), size_variation: 100, delay: 10 } });
    else if (kind === 2) await api.addToxic('churn', { name, type: 'bandwidth', stream: 'upstream', attributes: { rate: rnd.int(1000, 50_000) } });
    else await api.addToxic('churn', { name, type: 'noop', stream: 'upstream', attributes: {} });
    await api.removeToxic('churn', name);
  }
  const ms = performance.now() - t0;
  running = false;
  const deadline = performance.now() + 10_000;
  while (received < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  c.destroy();
  sink.close();
  await api.removeProxy('churn');
  return { sent, received, mismatches, ms };
}

async function apiLatency(api: FaultClient, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + 20; i++) {
    const name = `b${i}`;
    const t0 = performance.now();
    await api.createProxy({ name, listen: '127.0.0.1:0', upstream: '127.0.0.1:1' });
    await api.addToxic(name, { type: 'latency', attributes: { latency: 10 } });
    if (i >= 20) out.push(performance.now() - t0);
    await api.removeProxy(name);
  }
  return out.sort((a, b) => a - b);
}

/** The same create+toxic pair through a keep-alive `node:http` client; statuses are checked so a failing API cannot look fast. */
async function apiLatencyServer(base: string, n: number): Promise<number[]> {
  const http = keepAliveCaller(base);
  const out: number[] = [];
  try {
    for (let i = 0; i < n + 20; i++) {
      const name = `k${i}`;
      const t0 = performance.now();
      const created = await http.call('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: '127.0.0.1:1' });
      const toxic = await http.call('POST', `/proxies/${name}/toxics`, { type: 'latency', attributes: { latency: 10 } });
      if (i >= 20) out.push(performance.now() - t0);
      if (created !== 201 || toxic !== 200) throw new Error(`API answered ${created}/${toxic}`);
      await http.call('DELETE', `/proxies/${name}`);
    }
  } finally {
    http.close();
  }
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const echo = createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => {});
    s.pipe(s);
  });
  let sunk = 0;
  const sink = createServer((s) => {
    s.on('data', (d: Buffer) => (sunk += d.length));
    s.on('error', () => {});
  });
  const echoPort = await listen(echo);
  const sinkPort = await listen(sink);
  const proxy = await startProxyChild();
  const api = new FaultClient(proxy.api);
  const viaEcho = Number((await api.createProxy({ name: 'echo', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echoPort}` })).listen.split(':')[1]);
  const viaSink = Number((await api.createProxy({ name: 'sink', listen: '127.0.0.1:0', upstream: `127.0.0.1:${sinkPort}` })).listen.split(':')[1]);

  const N = 5000;
  const [direct, proxied] = (await rtt([echoPort, viaEcho], N)) as [number[], number[]];
  // Separately, so our proxy's busy-poll window cannot keep the CPU awake for the bare relay.
  const bare = await startBareRelay(echoPort);
  const [directForBare, bareRelay] = (await rtt([echoPort, bare.port], N / 2)) as [number[], number[]];
  bare.stop();
  const add50 = quantile(proxied, 0.5) - quantile(direct, 0.5);
  const add99 = quantile(proxied, 0.99) - quantile(direct, 0.99);

  // Three alternating rounds, medians: a single window on a shared 2-core machine is too noisy.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rounds = { d1: [] as number[], p1: [] as number[], d100: [] as number[], p100: [] as number[] };
  for (let i = 0; i < 3; i++) {
    rounds.d1.push(await throughput(sinkPort, () => sunk, 1, 1000));
    rounds.p1.push(await throughput(viaSink, () => sunk, 1, 1000));
    rounds.d100.push(await throughput(sinkPort, () => sunk, 100, 1000));
    rounds.p100.push(await throughput(viaSink, () => sunk, 100, 1000));
  }
  if (process.env.BENCH_VERBOSE) process.stderr.write(`${JSON.stringify(rounds)}\n`);
  const d1 = median(rounds.d1);
  const p1 = median(rounds.p1);
  const d100 = median(rounds.d100);
  const p100 = median(rounds.p100);

  const ch = await churn(api, 1000);
  const apiMs = await apiLatency(api, 1000);
  const apiServerMs = await apiLatencyServer(proxy.api, 1000);

  await proxy.stop();
  echo.close();
  sink.close();

  const r = (x: number, d = 1) => Number(x.toFixed(d));
  const results = {
    machine: { cpus: cpus().length, node: process.version, loadAvg1m: r(loadavg()[0]!, 2) },
    busyPollMicros: process.env.BENCH_BUSY_POLL_US ? Number(process.env.BENCH_BUSY_POLL_US) : 'default',
    rttUs: {
      direct: { p50: r(quantile(direct, 0.5)), p99: r(quantile(direct, 0.99)) },
      proxied: { p50: r(quantile(proxied, 0.5)), p99: r(quantile(proxied, 0.99)) },
      added: { p50: r(add50), p99: r(add99) },
      target: { p50: 60, p99: 250 },
      bareNodeRelayAdded: { p50: r(quantile(bareRelay, 0.5) - quantile(directForBare, 0.5)), p99: r(quantile(bareRelay, 0.99) - quantile(directForBare, 0.99)) },
    },
    throughputMBs: {
      oneConnection: { direct: r(d1), proxied: r(p1), ratio: r(p1 / d1, 2), target: 0.5 },
      hundredConnections: { direct: r(d100), proxied: r(p100), ratio: r(p100 / d100, 2), target: 0.5 },
    },
    toxicChurn: { cycles: 1000, seconds: r(ch.ms / 1000, 2), bytesSent: ch.sent, bytesLost: ch.sent - ch.received, corruptBlocks: ch.mismatches, target: 0 },
    apiCreateProxyAndToxicMs: {
      server: { p50: r(quantile(apiServerMs, 0.5), 2), p99: r(quantile(apiServerMs, 0.99), 2) },
      throughToxiproxyNodeClient: { p50: r(quantile(apiMs, 0.5), 2), p99: r(quantile(apiMs, 0.99), 2) },
      target: { p99: 5 },
    },
  };
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  const ok =
    add50 <= 60 && add99 <= 250 && p1 / d1 >= 0.5 && p100 / d100 >= 0.5 && ch.sent === ch.received && ch.mismatches === 0 && quantile(apiServerMs, 0.99) <= 5;
  process.stderr.write(ok ? 'all targets met\n' : 'some targets missed (see above)\n');
}

await main();
