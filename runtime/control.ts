import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { formatPath } from '../core/config/index.ts';
import type { EventBus } from '../core/events.ts';
import type { Logger } from '../core/log.ts';
import type { OrderInput } from './engine.ts';
import type { OrderRecord } from './order-state.ts';

/**
 * The loopback control API the harness drives: health, readiness, state,
 * the event stream (NDJSON), order submission and shutdown.
 */

export const OrderBodySchema = z.strictObject({
  symbol: z.string().min(1).max(32),
  side: z.enum(['buy', 'sell']),
  volume: z.number().positive().finite(),
  price: z.number().positive().finite().nullable().optional(),
  deviation: z.number().int().nonnegative().max(100_000).optional(),
  sl: z.number().nonnegative().finite().optional(),
  tp: z.number().nonnegative().finite().optional(),
});

export interface ControlDeps {
  host: string;
  port: number;
  events: EventBus;
  log: Logger;
  health: () => Record<string, unknown>;
  ready: () => { ready: boolean; [k: string]: unknown };
  state: (opts: { orders: boolean }) => unknown;
  submit: (o: OrderInput) => Promise<OrderRecord>;
  shutdown: () => void;
}

const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error(`body over ${MAX_BODY} bytes`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export class ControlServer implements AsyncDisposable {
  private server: Server | undefined;
  private readonly streams = new Set<ServerResponse>();
  url = '';

  constructor(private readonly d: ControlDeps) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.d.port, this.d.host, () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.d.port;
    this.url = `http://${this.d.host}:${port}`;
    this.server = server;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method} ${url.pathname}`;
    try {
      switch (route) {
        case 'GET /health':
          return send(res, 200, { ok: true, ...this.d.health() });
        case 'GET /ready': {
          const r = this.d.ready();
          return send(res, r.ready ? 200 : 503, r);
        }
        case 'GET /state':
          return send(res, 200, this.d.state({ orders: url.searchParams.get('orders') !== '0' }));
        case 'GET /events':
          return this.events(req, res, url);
        case 'POST /orders':
          return await this.postOrder(req, res);
        case 'POST /shutdown':
          send(res, 202, { ok: true, shuttingDown: true });
          setImmediate(() => this.d.shutdown());
          return;
        default:
          return send(res, 404, { error: `no route ${route}`, routes: ['GET /health', 'GET /ready', 'GET /state', 'GET /events', 'POST /orders', 'POST /shutdown'] });
      }
    } catch (e) {
      const status = (e as { status?: number }).status ?? 500;
      this.d.log.warn({ err: (e as Error).message, route }, 'control: request failed');
      if (!res.headersSent) send(res, status, { error: (e as Error).message });
      else res.end();
    }
  }

  private async postOrder(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return send(res, 400, { error: 'body is not JSON', field: '(root)', message: (e as Error).message });
    }
    const parsed = OrderBodySchema.safeParse(doc);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? formatPath([...issue.path, issue.keys[0]!]) : formatPath(issue.path);
      return send(res, 400, { error: `invalid order: ${field}: ${issue.message}`, field, issues: parsed.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message })) });
    }
    const o = await this.d.submit(parsed.data);
    // 422: refused locally (invalid volume/price for the symbol); the user was notified.
    const status = o.state === 'rejected' && o.sends === 0 ? 422 : 200;
    return send(res, status, { order: o });
  }

  private events(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const since = Number(url.searchParams.get('since') ?? '0') || 0;
    const follow = url.searchParams.get('follow') !== '0';
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    let last = since;
    for (const e of this.d.events.since(since)) {
      res.write(`${JSON.stringify(e)}\n`);
      last = e.seq;
    }
    if (!follow) {
      res.end();
      return;
    }
    this.streams.add(res);
    const unsub = this.d.events.subscribe((e) => {
      if (e.seq <= last) return;
      last = e.seq;
      res.write(`${JSON.stringify(e)}\n`);
    });
    const done = () => {
      unsub();
      this.streams.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const r of this.streams) r.end();
    this.streams.clear();
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
