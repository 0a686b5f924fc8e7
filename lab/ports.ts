import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

/** A free TCP port on `host`, chosen by the kernel. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** `n` distinct free TCP ports. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  let guard = 0;
  while (out.size < n && guard++ < n * 20) out.add(await freePort(host));
  return [...out];
}

/** A free UDP port on `host`. */
export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** Lowest port of the kernel's ephemeral range: outgoing connections take their local ports from there. */
export function ephemeralLow(): number {
  try {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(lo) && lo > 2048 ? lo : 32768;
  } catch {
    return 32768;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Where the next search starts; per process, so concurrent labs start apart. */
let cursor = -1;
const SERVICE_PORT_LOW = 15000;

/**
 * `n` free TCP ports for services restarted on the same port (lab services), taken below
 * the ephemeral range. A port from that range is free only while its service runs: once
 * the service is killed, the kernel may hand the port to any outgoing connection as its
 * local port, and the restart fails with "Address already in use" (seen restarting a
 * Redis master while the runtimes reconnect every 100 ms).
 */
export async function freeServicePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const span = ephemeralLow() - SERVICE_PORT_LOW;
  if (span < n * 20) return freePorts(n, host);
  if (cursor < 0) cursor = (process.pid * 7919) % span;
  const out: number[] = [];
  for (let tries = 0; out.length < n && tries < n * 200; tries++) {
    const port = SERVICE_PORT_LOW + (cursor++ % span);
    if (await canListen(port, host)) out.push(port);
  }
  return out.length === n ? out : freePorts(n, host);
}
