import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** An error whose text is what Go would print; the API answers it with status 500. */
export class AddressError extends Error {}

/** Go's net.SplitHostPort, with its error wording. */
export function splitHostPort(addr: string): { host: string; port: string } {
  const fail = (why: string) => new AddressError(`address ${addr}: ${why}`);
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    if (end < 0) throw fail("missing ']' in address");
    if (end + 1 === addr.length) throw fail('missing port in address');
    if (addr[end + 1] !== ':') throw fail('missing port in address');
    return { host: addr.slice(1, end), port: addr.slice(end + 2) };
  }
  const i = addr.lastIndexOf(':');
  if (i < 0) throw fail('missing port in address');
  const host = addr.slice(0, i);
  if (host.includes(':')) throw fail('too many colons in address');
  return { host, port: addr.slice(i + 1) };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface ResolvedListen {
  /** Address for net.Server.listen; '::' means every interface (dual-stack). */
  host: string;
  port: number;
  /** The string Toxiproxy reports: `127.0.0.1:P`, `[::]:P`. */
  text: string;
}

function parsePort(addr: string, port: string): number {
  if (port === '') return 0;
  if (!/^[0-9]+$/.test(port)) throw new AddressError(`address ${addr}: unknown port`);
  const p = Number(port);
  if (p > 65535) throw new AddressError(`address ${addr}: invalid port`);
  return p;
}

/**
 * Go's net.ResolveTCPAddr as Toxiproxy uses it for `listen`: hostnames resolve
 * to IPv4 first, an empty or unspecified host means every interface and is
 * reported as `[::]`, and an empty address means `[::]:0`.
 */
export async function resolveListen(addr: string): Promise<ResolvedListen> {
  if (addr === '') return { host: '::', port: 0, text: '[::]:0' };
  const { host, port: portText } = splitHostPort(addr);
  const port = parsePort(addr, portText);
  if (host === '' || host === '0.0.0.0' || host === '::') return { host: '::', port, text: joinHostPort('::', port) };
  if (isIP(host)) return { host, port, text: joinHostPort(host, port) };
  if (host === 'localhost') return { host: '127.0.0.1', port, text: joinHostPort('127.0.0.1', port) };
  let ip: string;
  try {
    ip = (await bounded(lookup(host, { family: 4 }))).address;
  } catch {
    try {
      ip = (await bounded(lookup(host))).address;
    } catch {
      throw new AddressError(`lookup ${host}: no such host`);
    }
  }
  return { host: ip, port, text: joinHostPort(ip, port) };
}

/** A slow resolver must not stall the API (every mutation waits its turn behind this one). */
function bounded<T>(p: Promise<T>, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error('i/o timeout')), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Node's bind errors in Go's `listen tcp <addr>: bind: <reason>` form. */
export function listenErrorText(err: NodeJS.ErrnoException, text: string, proto = 'tcp'): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `listen ${proto} ${text}: bind: address already in use`;
    case 'EADDRNOTAVAIL':
      return `listen ${proto} ${text}: bind: cannot assign requested address`;
    case 'EACCES':
      return `listen ${proto} ${text}: bind: permission denied`;
    default:
      return `listen ${proto} ${text}: ${err.message}`;
  }
}
