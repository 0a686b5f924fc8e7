import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ConfigError, EaChaosError } from '../../core/errors.ts';
import type { QueryFilter } from '../protocol/types.ts';
import type { BrokerEngine } from './engine.ts';
import type { Faults, FaultsInput } from './faults.ts';
import { matches } from './ledger.ts';

export interface AdminOptions {
  host: string;
  port: number;
  engine: BrokerEngine;
  getFaults: () => Faults;
  setFaults: (f: FaultsInput) => Faults;
  patchFaults: (p: unknown) => Faults;
  restart: (o: { downMs?: number }) => Promise<void>;
  /** Broker clock, for windows that start now. */
  now: () => number;
}

export interface AdminHandle {
  readonly url: string;
  stop(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function filterFrom(q: URLSearchParams): QueryFilter {
  const f: QueryFilter = {};
  const num = (name: keyof QueryFilter) => {
    const v = q.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new HttpError(400, `${name}: expected a number, got ${JSON.stringify(v)}`);
    return n;
  };
  if (q.has('symbol')) f.symbol = q.get('symbol')!;
  if (q.has('comment')) f.comment = q.get('comment')!;
  f.magic = num('magic');
  f.ticket = num('ticket');
  f.position = num('position');
  f.from_msc = num('from_msc');
  f.to_msc = num('to_msc');
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as QueryFilter;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `body over ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
  }
}

/** The loopback admin HTTP API: fault knobs, restart, and the ledger (docs/protocol.md). */
export async function startAdmin(o: AdminOptions): Promise<AdminHandle> {
  const { engine } = o;
  const L = engine.ledger;

  const route = async (req: IncomingMessage): Promise<unknown> => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const m = req.method ?? 'GET';
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    if (m === 'GET' && p === '/health') return { ok: true };
    if (p === '/faults') {
      if (m === 'GET') return o.getFaults();
      if (m === 'PUT') return o.setFaults((await readJson(req)) as FaultsInput);
      if (m === 'PATCH') return o.patchFaults(await readJson(req));
    }
    if (m === 'POST' && p === '/faults/reset') return o.setFaults({});
    if (m === 'POST' && p === '/restart') {
      const downMs = q.has('downMs') ? Number(q.get('downMs')) : 0;
      if (!Number.isFinite(downMs) || downMs < 0 || downMs > 600_000) throw new HttpError(400, 'downMs: expected 0..600000');
      await o.restart({ downMs });
      return { ok: true, restarted: true };
    }
    if (m === 'POST' && p === '/market/close') {
      const forMs = Number(q.get('forMs'));
      if (!q.has('forMs') || !Number.isFinite(forMs) || forMs <= 0) throw new HttpError(400, 'forMs: expected a positive number of milliseconds');
      const now = o.now();
      return o.patchFaults({ marketClosed: [...o.getFaults().marketClosed, { fromMsc: now, toMsc: now + forMs }] });
    }
    if (m === 'POST' && p === '/market/open') return o.patchFaults({ marketClosed: [] });
    if (m === 'GET' && p === '/ledger') return L.snapshot();
    if (m === 'GET' && p === '/ledger/summary') return L.summary();
    if (m === 'GET' && p === '/ledger/requests') return L.requests;
    if (m === 'GET' && p === '/ledger/deals') {
      const f = filterFrom(q);
      return L.deals.filter((d) => matches(d, f, d.time_msc));
    }
    if (m === 'GET' && p === '/ledger/orders') {
      const f = filterFrom(q);
      return [...L.orders.values()].filter((x) => matches(x, f));
    }
    if (m === 'GET' && p === '/ledger/positions') return engine.positionsGet(filterFrom(q));
    if (m === 'GET' && p === '/account') return engine.accountInfo();
    throw new HttpError(404, `no route ${m} ${p}`);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    route(req).then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      },
      (e: unknown) => {
        let status = 500;
        let body: Record<string, unknown> = { error: { code: 'E_INTERNAL', message: String((e as Error)?.message ?? e) } };
        if (e instanceof HttpError) {
          status = e.status;
          body = { error: { code: status === 404 ? 'E_NOT_FOUND' : 'E_BAD_REQUEST', message: e.message, ...e.extra } };
        } else if (e instanceof ConfigError) {
          status = 400;
          body = { error: { code: e.code, message: e.message, issues: e.issues } };
        } else if (e instanceof EaChaosError) {
          body = { error: { code: e.code, message: e.message } };
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new EaChaosError('E_ADMIN_LISTEN', `admin API cannot listen on ${o.host}:${o.port}: ${e.message}`, { cause: e })));
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = addr && typeof addr === 'object' ? addr.port : o.port;
  let stopped = false;
  return {
    url: `http://${o.host}:${port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
