import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/log.ts';
import { badBody, PopulateError, type ProxyCollection } from './collection.ts';
import { GoJsonError, parseFirstValue, type RawValue } from './gojson.ts';
import { ApiError } from './proxy.ts';
import { toxicJson } from './toxics.ts';

/** The version real Toxiproxy reports; clients compare it, so we claim the API level we implement. */
export const TOXIPROXY_VERSION = '2.12.0';
/** Go's http.TimeoutHandler budget: a handler still running after this answers 503. */
const HANDLER_TIMEOUT_MS = 25_000;
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

type Handler = (params: string[], body: () => RawValue) => Promise<Reply> | Reply;

interface Reply {
  status: number;
  /** undefined means an empty body (204). */
  json?: unknown;
}

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
  /** Populate's errors also carry `"proxies"`. */
  populate?: boolean;
}

const SEGMENT = '([^/]+)';

function route(path: string, methods: Record<string, Handler>): Route {
  const src = path
    .split('/')
    .map((s) => (s.startsWith('{') ? SEGMENT : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return { pattern: new RegExp(`^${src}$`), methods };
}

/** xid-like request ids: 12 random bytes in base32hex, 20 characters. */
function requestId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuv';
  const bytes = randomBytes(13);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < 20) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** A mutex with a bounded hold: a stuck handler cannot wedge the API for longer than the handler timeout. */
class Serial {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>((r) => {
      timer = setTimeout(r, HANDLER_TIMEOUT_MS);
      timer.unref();
    });
    this.tail = Promise.race([settled, bounded]).finally(() => clearTimeout(timer));
    return result;
  }
}

export interface ApiOptions {
  collection: ProxyCollection;
  logger: Logger;
  maxBodyBytes?: number;
}

/** Toxiproxy's HTTP API on node:http. Every answer is Toxiproxy's: codes, bodies, headers. */
export function createApiHandler(opts: ApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const c = opts.collection;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const serial = new Serial();

  const routes: Route[] = [
    route('/version', { GET: () => ({ status: 200, json: VERSION_MARK }) }),
    route('/proxies', {
      GET: () => ({ status: 200, json: c.list() }),
      POST: async (_p, body) => ({ status: 201, json: (await c.create(body())).toJson() }),
    }),
    {
      ...route('/populate', {
        POST: async (_p, body) => ({ status: 201, json: { proxies: await c.populate(body()) } }),
      }),
      populate: true,
    },
    route('/reset', {
      POST: async () => {
        await c.reset();
        return { status: 204 };
      },
    }),
    route('/proxies/{proxy}', {
      GET: ([p]) => ({ status: 200, json: c.get(p!).toJson() }),
      POST: async ([p], body) => ({ status: 200, json: (await c.update(p!, afterLookup(() => c.get(p!), body))).toJson() }),
      PATCH: async ([p], body) => ({ status: 200, json: (await c.update(p!, afterLookup(() => c.get(p!), body))).toJson() }),
      DELETE: ([p]) => {
        c.remove(p!);
        return { status: 204 };
      },
    }),
    route('/proxies/{proxy}/toxics', {
      GET: ([p]) => {
        const proxy = c.get(p!);
        return { status: 200, json: [...proxy.toxics.upstream, ...proxy.toxics.downstream].map(toxicJson) };
      },
      POST: ([p], body) => {
        c.get(p!);
        return { status: 200, json: toxicJson(c.addToxic(p!, body())) };
      },
    }),
    route('/proxies/{proxy}/toxics/{toxic}', {
      GET: ([p, t]) => ({ status: 200, json: toxicJson(c.getToxic(p!, t!)) }),
      POST: ([p, t], body) => ({ status: 200, json: toxicJson(updateToxic(c, p!, t!, body)) }),
      PATCH: ([p, t], body) => ({ status: 200, json: toxicJson(updateToxic(c, p!, t!, body)) }),
      DELETE: ([p, t]) => {
        c.removeToxic(p!, t!);
        return { status: 204 };
      },
    }),
    // Our UDP extension: a separate path tree that Toxiproxy clients never visit.
    route('/udp/proxies', {
      GET: () => ({ status: 200, json: c.listRelays() }),
      POST: async (_p, body) => ({ status: 201, json: (await c.createRelay(body())).toJson() }),
    }),
    route('/udp/proxies/{proxy}', {
      GET: ([p]) => ({ status: 200, json: c.getRelay(p!).toJson() }),
      POST: async ([p], body) => ({ status: 200, json: (await c.updateRelay(p!, afterLookup(() => c.getRelay(p!), body))).toJson() }),
      PATCH: async ([p], body) => ({ status: 200, json: (await c.updateRelay(p!, afterLookup(() => c.getRelay(p!), body))).toJson() }),
      DELETE: ([p]) => {
        c.removeRelay(p!);
        return { status: 204 };
      },
    }),
  ];

  return (req, res) => {
    let path: string;
    try {
      path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    } catch {
      path = '\u0000';
    }
    let match: { route: Route; params: string[] } | undefined;
    for (const r of routes) {
      const m = r.pattern.exec(path);
      if (m) {
        match = { route: r, params: m.slice(1) };
        break;
      }
    }
    if (!match) {
      finishAfterBody(req, res, maxBody, () => sendText(res, 404, '404 page not found\n'));
      return;
    }
    const handler = match.route.methods[req.method ?? ''];
    if (!handler) {
      finishAfterBody(req, res, maxBody, () => {
        res.writeHead(405);
        res.end();
      });
      return;
    }
    res.setHeader('X-Toxiproxy-Request-Id', requestId());
    if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
      finishAfterBody(req, res, maxBody, () => sendText(res, 403, 'User agent not allowed\n'));
      return;
    }
    const params = match.params;
    readBody(req, maxBody)
      .then(
        (text) => {
          const body = () => {
            try {
              return parseFirstValue(text);
            } catch (e) {
              if (e instanceof GoJsonError) throw badBody(e);
              throw e;
            }
          };
          return serial.run(() => withTimeout(Promise.resolve().then(() => handler(params, body))));
        },
        (e: unknown) => {
          // Too large: answer and drop the connection rather than read the rest.
          res.setHeader('Connection', 'close');
          throw e;
        },
      )
      .then(
        (reply) => sendReply(res, reply),
        (e: unknown) => {
          if (e === TIMEOUT) {
            if (!res.headersSent) {
              res.writeHead(503);
              res.end();
            }
            return;
          }
          if (e instanceof PopulateError) return sendError(res, e, { proxies: e.proxies });
          if (e instanceof ApiError) {
            return sendError(res, e, match.route.populate ? { proxies: null } : undefined);
          }
          opts.logger.error({ err: e }, 'fault proxy API handler failed');
          sendError(res, new ApiError(500, e instanceof Error ? e.message : String(e)));
        },
      )
      .catch((e: unknown) => {
        opts.logger.error({ err: e }, 'fault proxy API could not answer');
        res.destroy();
      });
  };
}

const VERSION_MARK = Symbol('version');
const TIMEOUT = Symbol('timeout');

/** Update handlers decode after the lookup, so a missing proxy is 404 even with a bad body. */
function afterLookup(lookup: () => unknown, body: () => RawValue): RawValue {
  lookup();
  return body();
}

function updateToxic(c: ProxyCollection, p: string, t: string, body: () => RawValue) {
  c.getToxic(p, t);
  return c.updateToxic(p, t, body());
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(TIMEOUT), HANDLER_TIMEOUT_MS);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (d: Buffer) => {
      if (failed) return;
      size += d.length;
      if (size > max) {
        failed = true;
        req.pause();
        reject(new ApiError(400, 'bad request body: http: request body too large'));
        return;
      }
      parts.push(d);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(parts).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    });
  });
}

/** Answers without a body of our own, discarding the request body (bounded). */
function finishAfterBody(req: IncomingMessage, res: ServerResponse, max: number, send: () => void): void {
  readBody(req, max).then(send, () => {
    res.setHeader('Connection', 'close');
    send();
  });
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(text);
}

function sendReply(res: ServerResponse, reply: Reply): void {
  if (reply.json === VERSION_MARK) {
    res.writeHead(200, { 'Content-Type': 'application/json;charset=utf-8' });
    res.end(`{"version": "${TOXIPROXY_VERSION}"}\n`);
    return;
  }
  if (reply.json === undefined) {
    res.writeHead(reply.status);
    res.end();
    return;
  }
  res.writeHead(reply.status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(reply.json));
}

/** Go's http.Error: JSON text, text/plain content type, trailing newline. */
function sendError(res: ServerResponse, e: ApiError, extra?: Record<string, unknown>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, e.status, `${JSON.stringify({ error: e.message, status: e.status, ...extra })}\n`);
}
