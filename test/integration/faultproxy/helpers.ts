import { connect, createServer, type Server, type Socket } from 'node:net';
import { waitFor } from '../../../core/wait.ts';

/** A TCP echo server on a free loopback port; every accepted socket is tracked for cleanup. */
export async function echoServer(): Promise<{ port: number; server: Server; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: false }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface Client {
  socket: Socket;
  data: Buffer[];
  received(): Buffer;
  ended: boolean;
  closed: boolean;
  error: NodeJS.ErrnoException | undefined;
}

/** Connects and records everything: bytes, end, close, error. */
export function client(port: number, host = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    const c: Client = {
      socket,
      data: [],
      received: () => Buffer.concat(c.data),
      ended: false,
      closed: false,
      error: undefined,
    };
    socket.on('data', (d: Buffer) => c.data.push(d));
    socket.on('end', () => (c.ended = true));
    socket.on('close', () => (c.closed = true));
    socket.once('connect', () => resolve(c));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      c.error = e;
      reject(e);
    });
  });
}

export function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  return waitFor(() => check() || undefined, { what, timeoutMs, intervalMs: 5 }) as Promise<T>;
}

export function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json(): any;
}

export async function http(base: string, method: string, path: string, body?: string | object, headers: Record<string, string> = {}): Promise<RawResponse> {
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/**
 * A negative check needs an observation window: `check` must stay true for
 * `ms` (polled), failing as soon as it turns false. Not a readiness wait.
 */
export async function holdsFor(what: string, check: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (!check()) throw new Error(`${what} stopped holding`);
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!check()) throw new Error(`${what} stopped holding`);
}
