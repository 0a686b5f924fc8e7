import { Proxy, Toxic, Toxiproxy } from 'toxiproxy-node-client';
import { EaChaosError } from '../core/errors.ts';

/**
 * The harness drives faults only through toxiproxy-node-client, so the same
 * scenario runs against real Toxiproxy or our embedded server. This wrapper
 * turns the client's rejections (ToxiproxyError, strings, fetch failures)
 * into EaChaosErrors with stable codes.
 */
export class FaultProxyClientError extends EaChaosError {}

export type ToxiproxyUrlSource = 'env' | 'config' | 'embedded';

export interface UrlChoice {
  url: string;
  source: ToxiproxyUrlSource;
}

export interface UrlOptions {
  env?: Record<string, string | undefined>;
  /** The loaded config; `lab.toxiproxyUrl` (or `lab.external.toxiproxyUrl`) is used when set. */
  config?: { lab?: { toxiproxyUrl?: string | undefined; external?: { toxiproxyUrl?: string | undefined } | undefined } | undefined };
  /** The embedded server's URL (`startFaultProxy(...).url`), the fallback. */
  embeddedUrl?: string;
}

/** TOXIPROXY_URL wins, then the config, then the embedded server. */
export function resolveToxiproxyUrl(opts: UrlOptions = {}): UrlChoice {
  const env = opts.env ?? process.env;
  const fromEnv = env.TOXIPROXY_URL?.trim();
  if (fromEnv) return { url: trimSlash(fromEnv), source: 'env' };
  const fromConfig = opts.config?.lab?.toxiproxyUrl ?? opts.config?.lab?.external?.toxiproxyUrl;
  if (fromConfig) return { url: trimSlash(fromConfig), source: 'config' };
  if (opts.embeddedUrl) return { url: trimSlash(opts.embeddedUrl), source: 'embedded' };
  throw new FaultProxyClientError('E_PROXY_NO_URL', 'no Toxiproxy URL: set TOXIPROXY_URL, lab.toxiproxyUrl in the config, or start the embedded fault proxy');
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '');
}

const CODES: Record<number, string> = {
  400: 'E_PROXY_BAD_REQUEST',
  403: 'E_PROXY_FORBIDDEN',
  404: 'E_PROXY_NOT_FOUND',
  405: 'E_PROXY_BAD_REQUEST',
  409: 'E_PROXY_CONFLICT',
};

/** Maps a client rejection to a coded error; exported for the harness's own fetches. */
export function toClientError(e: unknown, operation: string, url: string): FaultProxyClientError {
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e);
  const m = /status code (\d{3})/.exec(message);
  if (m) {
    const status = Number(m[1]);
    const code = CODES[status] ?? (status >= 500 ? 'E_PROXY_SERVER' : 'E_PROXY_HTTP');
    return new FaultProxyClientError(code, `${operation} failed: HTTP ${status}`, { cause: e, details: { status, operation, url } });
  }
  const name = e instanceof Error ? e.name : '';
  if (name === 'TypeError' || /fetch failed|ECONNREFUSED|ENOTFOUND|ECONNRESET/i.test(message)) {
    return new FaultProxyClientError('E_PROXY_UNREACHABLE', `${operation} failed: cannot reach ${url}: ${message}`, { cause: e, details: { operation, url } });
  }
  return new FaultProxyClientError('E_PROXY_CLIENT', `${operation} failed: ${message}`, { cause: e, details: { operation, url } });
}

export interface ProxyBody {
  name: string;
  listen: string;
  upstream: string;
  enabled?: boolean;
}

export interface ToxicBody {
  name?: string;
  type: 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data' | 'noop';
  stream?: 'upstream' | 'downstream';
  toxicity?: number;
  attributes: Record<string, number>;
}

export interface ProxyInfo {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

export interface ToxicInfo {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes: Record<string, number>;
}

function proxyInfo(p: Proxy): ProxyInfo {
  return { name: p.name, listen: p.listen, upstream: p.upstream, enabled: p.enabled };
}

function toxicInfo(t: Toxic<unknown>): ToxicInfo {
  return { name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity, attributes: t.attributes as Record<string, number> };
}

export class FaultClient {
  readonly toxiproxy: Toxiproxy;

  constructor(readonly url: string) {
    this.toxiproxy = new Toxiproxy(trimSlash(url));
  }

  static fromEnvironment(opts: UrlOptions = {}): FaultClient {
    return new FaultClient(resolveToxiproxyUrl(opts).url);
  }

  /**
   * A client-side handle for a proxy we know by name, so toxic calls cost one
   * request instead of a GET first (the client's Proxy only needs the name).
   */
  private handle(name: string): Proxy {
    return new Proxy(this.toxiproxy, { name, listen: '', upstream: '', enabled: true, toxics: [] });
  }

  private toxicHandle(proxy: string, toxic: string): Toxic<unknown> {
    return new Toxic(this.toxiproxy.api, this.handle(proxy).getPath(), { name: toxic, type: 'latency', stream: 'downstream', toxicity: 1, attributes: {} });
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toClientError(e, operation, this.url);
    }
  }

  version(): Promise<string> {
    return this.call('version', async () => JSON.parse(await this.toxiproxy.getVersion()).version as string);
  }

  createProxy(body: ProxyBody): Promise<ProxyInfo> {
    return this.call(`create proxy ${body.name}`, async () => proxyInfo(await this.toxiproxy.createProxy(body)));
  }

  populate(bodies: ProxyBody[]): Promise<Record<string, ProxyInfo>> {
    return this.call('populate', async () => {
      const all = await this.toxiproxy.populate(bodies);
      return Object.fromEntries(Object.entries(all).map(([k, p]) => [k, proxyInfo(p)]));
    });
  }

  getProxy(name: string): Promise<ProxyInfo> {
    return this.call(`get proxy ${name}`, async () => proxyInfo(await this.toxiproxy.get(name)));
  }

  getAll(): Promise<Record<string, ProxyInfo>> {
    return this.call('list proxies', async () => {
      const all = await this.toxiproxy.getAll();
      return Object.fromEntries(Object.entries(all).map(([k, p]) => [k, proxyInfo(p)]));
    });
  }

  /** Fields left out keep their current values (the client sends the full object). */
  updateProxy(name: string, change: Partial<Omit<ProxyBody, 'name'>>): Promise<ProxyInfo> {
    return this.call(`update proxy ${name}`, async () => {
      const p = await this.toxiproxy.get(name);
      const next = await p.update({ enabled: change.enabled ?? p.enabled, listen: change.listen ?? p.listen, upstream: change.upstream ?? p.upstream });
      return proxyInfo(next);
    });
  }

  /** "Down" in Toxiproxy terms: disable the proxy (new connects are refused, live ones closed). */
  setEnabled(name: string, enabled: boolean): Promise<ProxyInfo> {
    return this.updateProxy(name, { enabled });
  }

  removeProxy(name: string): Promise<void> {
    return this.call(`remove proxy ${name}`, () => this.handle(name).remove());
  }

  addToxic(proxy: string, body: ToxicBody): Promise<ToxicInfo> {
    return this.call(`add toxic to ${proxy}`, async () => {
      // The client's types demand every field; the server fills the defaults Toxiproxy documents.
      return toxicInfo(await this.handle(proxy).addToxic(body as unknown as Parameters<Proxy['addToxic']>[0]));
    });
  }

  getToxic(proxy: string, toxic: string): Promise<ToxicInfo> {
    return this.call(`get toxic ${proxy}/${toxic}`, async () => toxicInfo(await this.handle(proxy).getToxic(toxic)));
  }

  updateToxic(proxy: string, toxic: string, change: { attributes?: Record<string, number>; toxicity?: number }): Promise<ToxicInfo> {
    return this.call(`update toxic ${proxy}/${toxic}`, async () => {
      return toxicInfo(await this.toxicHandle(proxy, toxic).update(change as unknown as Parameters<Toxic<unknown>['update']>[0]));
    });
  }

  removeToxic(proxy: string, toxic: string): Promise<void> {
    return this.call(`remove toxic ${proxy}/${toxic}`, () => this.toxicHandle(proxy, toxic).remove());
  }

  /** Re-enables every proxy and removes every toxic (our server also clears UDP impairments). */
  reset(): Promise<void> {
    return this.call('reset', () => this.toxiproxy.reset());
  }

  // ---- UDP extension: plain fetch, since the Toxiproxy client has no such calls ----

  private async udp(method: string, path: string, body?: unknown): Promise<unknown> {
    const operation = `${method} ${path}`;
    return this.call(operation, async () => {
      const res = await fetch(`${this.url}${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`Request failed with status code ${res.status}: ${text.trim()}`);
      return text ? JSON.parse(text) : undefined;
    });
  }

  createUdpRelay(body: ProxyBody & { impairments?: UdpImpairmentPatch }): Promise<UdpRelayInfo> {
    return this.udp('POST', '/udp/proxies', body) as Promise<UdpRelayInfo>;
  }

  getUdpRelay(name: string): Promise<UdpRelayInfo> {
    return this.udp('GET', `/udp/proxies/${name}`) as Promise<UdpRelayInfo>;
  }

  updateUdpRelay(name: string, change: Partial<Omit<ProxyBody, 'name'>> & { impairments?: UdpImpairmentPatch }): Promise<UdpRelayInfo> {
    return this.udp('POST', `/udp/proxies/${name}`, change) as Promise<UdpRelayInfo>;
  }

  async removeUdpRelay(name: string): Promise<void> {
    await this.udp('DELETE', `/udp/proxies/${name}`);
  }
}

export interface UdpImpairmentFields {
  loss?: number;
  burst?: { enter?: number; exit?: number; loss?: number } | null;
  latency?: number;
  jitter?: number;
  duplicate?: number;
  reorder?: number;
  reorder_window?: number;
  down?: boolean;
}

export interface UdpImpairmentPatch {
  both?: UdpImpairmentFields;
  upstream?: UdpImpairmentFields;
  downstream?: UdpImpairmentFields;
}

export interface UdpRelayInfo {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  impairments: Record<'upstream' | 'downstream', Required<UdpImpairmentFields>>;
  stats: Record<'upstream' | 'downstream', { received: number; forwarded: number; dropped: number; duplicated: number; reordered: number }>;
  sessions: number;
}
