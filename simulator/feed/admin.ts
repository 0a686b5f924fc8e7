import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { EaChaosError } from '../../core/errors.ts';
import type { FeedHandle } from './server.ts';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function num(q: URLSearchParams, name: string, def?: number): number | undefined {
  const v = q.get(name);
  if (v === null) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new HttpError(400, `${name}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * The feed's loopback admin API: its own record of every tick it emitted (so a
 * checker in another process can prove none was lost), stats, rate and restart.
 */
export async function startFeedAdmin(feed: FeedHandle, host: string, port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const route = async (req: IncomingMessage): Promise<unknown> => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const m = req.method ?? 'GET';
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    if (m === 'GET' && p === '/health') return { ok: true };
    if (m === 'GET' && p === '/stats') return feed.stats();
    if (m === 'GET' && p === '/ticks') {
      const stream = q.get('stream') ?? undefined;
      const epoch = num(q, 'epoch', feed.epoch)!;
      const from = num(q, 'from_seq', 1)!;
      const to = num(q, 'to_seq', Number.MAX_SAFE_INTEGER)!;
      const limit = Math.min(num(q, 'limit', 100_000)!, 1_000_000);
      const out = [];
      for (const t of feed.emitted(stream)) {
        if (t.epoch !== epoch || t.seq < from || t.seq > to) continue;
        out.push(t);
        if (out.length >= limit) break;
      }
      return out;
    }
    if (m === 'POST' && p === '/rate') {
      const r = num(q, 'ticksPerSecond');
      if (r === undefined) throw new HttpError(400, 'ticksPerSecond: required');
      try {
        feed.setRate(r);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      return feed.stats();
    }
    if (m === 'POST' && p === '/restart') {
      const downMs = num(q, 'downMs', 0)!;
      if (downMs < 0 || downMs > 600_000) throw new HttpError(400, 'downMs: expected 0..600000');
      await feed.restart({ downMs });
      return { ok: true, epoch: feed.epoch };
    }
    throw new HttpError(404, `no route ${m} ${p}`);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    route(req).then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      },
      (e: unknown) => {
        const status = e instanceof HttpError ? e.status : 500;
        const code = status === 404 ? 'E_NOT_FOUND' : status === 400 ? 'E_BAD_REQUEST' : 'E_INTERNAL';
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code, message: String((e as Error)?.message ?? e) } }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new EaChaosError('E_ADMIN_LISTEN', `feed admin API cannot listen on ${host}:${port}: ${e.message}`, { cause: e })));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const actual = addr && typeof addr === 'object' ? addr.port : port;
  let stopped = false;
  return {
    url: `http://${host}:${actual}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
