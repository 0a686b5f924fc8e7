import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { AddressError, resolveListen } from './address.ts';
import { decodeStruct, GoJsonError, RawObject, rawField, type RawValue } from './gojson.ts';
import { NO_IMPAIRMENTS, type Impairments } from './impairer.ts';
import { ApiError, ERR, TcpProxy } from './proxy.ts';
import { decodeAttributes, isToxicType, parseStream, toxicJson, toxicityValue, type StreamDirection, type ToxicSpec } from './toxics.ts';
import { UdpRelay } from './udp.ts';

const PROXY_FIELDS = [
  { json: 'name', kind: 'string' },
  { json: 'listen', kind: 'string' },
  { json: 'upstream', kind: 'string' },
  { json: 'enabled', kind: 'bool' },
] as const;

const TOXIC_FIELDS = [
  { json: 'name', kind: 'string' },
  { json: 'type', kind: 'string' },
  { json: 'stream', kind: 'string' },
  { json: 'toxicity', kind: 'float32' },
] as const;

export function badBody(e: unknown): ApiError {
  return new ApiError(400, `bad request body: ${e instanceof Error ? e.message : String(e)}`);
}

/** Runs a decode step, turning Go-style decode failures into 400 `bad request body: ...`. */
function decoding<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GoJsonError) throw badBody(e);
    throw e;
  }
}

interface ProxyInput {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

function proxyInput(raw: RawValue, goType = 'toxiproxy.Proxy', base?: Partial<ProxyInput>): ProxyInput {
  const f = decoding(() => decodeStruct(raw, goType, PROXY_FIELDS));
  return {
    name: (f.name as string | undefined) ?? base?.name ?? '',
    listen: (f.listen as string | undefined) ?? base?.listen ?? '',
    upstream: (f.upstream as string | undefined) ?? base?.upstream ?? '',
    enabled: (f.enabled as boolean | undefined) ?? base?.enabled ?? true,
  };
}

async function resolvedText(listen: string): Promise<string> {
  try {
    return (await resolveListen(listen)).text;
  } catch (e) {
    throw new ApiError(500, e instanceof AddressError ? e.message : String(e));
  }
}

/** Populate failures carry the proxies done so far. */
export class PopulateError extends ApiError {
  constructor(
    inner: ApiError,
    readonly proxies: unknown[] | null,
  ) {
    super(inner.status, inner.message);
  }
}

/**
 * The proxies and relays of one server, with Toxiproxy's semantics for each
 * API operation. Mutations are serialised by the API layer.
 */
export class ProxyCollection {
  readonly proxies = new Map<string, TcpProxy>();
  readonly relays = new Map<string, UdpRelay>();

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    /** Per chunk or datagram forwarded (the server's busy-poll window). */
    private readonly onTraffic: () => void = () => {},
  ) {}

  private newProxy(p: ProxyInput): TcpProxy {
    return new TcpProxy(p.name, p.listen, p.upstream, this.clock, this.random.fork(`proxy:${p.name}`), this.onTraffic);
  }

  list(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of [...this.proxies.keys()].sort()) out[name] = this.proxies.get(name)!.toJson();
    return out;
  }

  get(name: string): TcpProxy {
    const p = this.proxies.get(name);
    if (!p) throw ERR.proxyNotFound();
    return p;
  }

  async create(raw: RawValue): Promise<TcpProxy> {
    const input = proxyInput(raw);
    if (input.name === '') throw new ApiError(400, 'missing required field: name');
    if (input.upstream === '') throw new ApiError(400, 'missing required field: upstream');
    // 409 before bind, as Toxiproxy does.
    if (this.proxies.has(input.name)) throw ERR.proxyExists();
    const proxy = this.newProxy(input);
    if (input.enabled) await proxy.start();
    this.proxies.set(proxy.name, proxy);
    return proxy;
  }

  async populate(raw: RawValue): Promise<unknown[]> {
    const inputs = decoding(() => {
      if (raw === null) return [];
      if (!Array.isArray(raw)) {
        const kind = raw instanceof RawObject ? 'object' : typeof raw === 'string' ? 'string' : typeof raw === 'boolean' ? 'bool' : 'number';
        throw new GoJsonError(`json: cannot unmarshal ${kind} into Go value of type []toxiproxy.Proxy`);
      }
      return raw.map((r) => proxyInput(r));
    });
    inputs.forEach((p, i) => {
      if (p.name === '') throw new ApiError(400, `missing required field: name at proxy ${i + 1}`);
      if (p.upstream === '') throw new ApiError(400, `missing required field: upstream at proxy ${i + 1}`);
    });
    const done: unknown[] = [];
    for (const input of inputs) {
      try {
        const existing = this.proxies.get(input.name);
        if (existing) {
          const listen = await resolvedText(input.listen);
          if (listen === existing.listen && input.upstream === existing.upstream) {
            done.push(existing.toJson());
            continue;
          }
          existing.stop();
          this.proxies.delete(input.name);
        }
        const proxy = this.newProxy(input);
        if (input.enabled) await proxy.start();
        this.proxies.set(proxy.name, proxy);
        done.push(proxy.toJson());
      } catch (e) {
        if (e instanceof ApiError) throw new PopulateError(e, done.length > 0 ? done : null);
        throw e;
      }
    }
    return done;
  }

  async update(name: string, raw: RawValue): Promise<TcpProxy> {
    const proxy = this.get(name);
    const input = proxyInput(raw, 'toxiproxy.Proxy', { listen: proxy.listen, upstream: proxy.upstream, enabled: proxy.enabled });
    const listen = await resolvedText(input.listen);
    if (listen !== proxy.listen || input.upstream !== proxy.upstream) {
      proxy.stop();
      proxy.listen = input.listen;
      proxy.upstream = input.upstream;
    }
    if (input.enabled !== proxy.enabled) {
      if (input.enabled) await proxy.start();
      else proxy.stop();
    }
    return proxy;
  }

  remove(name: string): void {
    const p = this.get(name);
    p.stop();
    this.proxies.delete(name);
  }

  addToxic(proxyName: string, raw: RawValue): ToxicSpec {
    const proxy = this.get(proxyName);
    const f = decoding(() => decodeStruct(raw, 'toxiproxy.ToxicWrapper', TOXIC_FIELDS));
    const stream = (f.stream as string | undefined) ?? 'downstream';
    const direction = parseStream(stream);
    if (!direction) throw ERR.invalidStream();
    const type = (f.type as string | undefined) ?? '';
    const name = (f.name as string | undefined) || `${type}_${stream}`;
    if (!isToxicType(type)) throw ERR.invalidToxicType();
    if (proxy.findToxic(name)) throw ERR.toxicExists();
    const attributes = decoding(() => decodeAttributes(type, rawField(raw, 'attributes')));
    const toxicity = f.toxicity === undefined ? 1 : toxicityValue(f.toxicity as number);
    const spec: ToxicSpec = { name, type, stream, direction, toxicity, attributes };
    proxy.addToxic(spec);
    return spec;
  }

  getToxic(proxyName: string, toxicName: string): ToxicSpec {
    const t = this.get(proxyName).findToxic(toxicName);
    if (!t) throw ERR.toxicNotFound();
    return t;
  }

  updateToxic(proxyName: string, toxicName: string, raw: RawValue): ToxicSpec {
    const proxy = this.get(proxyName);
    const old = proxy.findToxic(toxicName);
    if (!old) throw ERR.toxicNotFound();
    const f = decoding(() => decodeStruct(raw, 'toxiproxy.ToxicWrapper', [{ json: 'toxicity', kind: 'float32' }]));
    const attributes = decoding(() => decodeAttributes(old.type, rawField(raw, 'attributes'), old.attributes));
    const spec: ToxicSpec = { ...old, attributes, toxicity: f.toxicity === undefined ? old.toxicity : toxicityValue(f.toxicity as number) };
    proxy.updateToxic(spec);
    return spec;
  }

  removeToxic(proxyName: string, toxicName: string): void {
    const proxy = this.get(proxyName);
    const t = proxy.findToxic(toxicName);
    if (!t) throw ERR.toxicNotFound();
    proxy.removeToxic(t);
  }

  /** Starts every disabled proxy and removes every toxic; our extension also clears UDP impairments. */
  async reset(): Promise<void> {
    for (const p of this.proxies.values()) {
      if (!p.enabled) await p.start();
      p.removeAllToxics();
    }
    for (const r of this.relays.values()) {
      if (!r.enabled) await r.start();
      r.setImpairments('upstream', { ...NO_IMPAIRMENTS });
      r.setImpairments('downstream', { ...NO_IMPAIRMENTS });
    }
  }

  // ---- UDP relays (our extension) ----

  listRelays(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of [...this.relays.keys()].sort()) out[name] = this.relays.get(name)!.toJson();
    return out;
  }

  getRelay(name: string): UdpRelay {
    const r = this.relays.get(name);
    if (!r) throw ERR.proxyNotFound();
    return r;
  }

  async createRelay(raw: RawValue): Promise<UdpRelay> {
    const input = proxyInput(raw, 'udp.Relay');
    if (input.name === '') throw new ApiError(400, 'missing required field: name');
    if (input.upstream === '') throw new ApiError(400, 'missing required field: upstream');
    if (this.relays.has(input.name)) throw ERR.proxyExists();
    const relay = new UdpRelay(input.name, input.listen, input.upstream, this.clock, this.random.fork(`udp:${input.name}`), this.onTraffic);
    this.applyImpairments(relay, rawField(raw, 'impairments'));
    if (input.enabled) await relay.start();
    this.relays.set(relay.name, relay);
    return relay;
  }

  async updateRelay(name: string, raw: RawValue): Promise<UdpRelay> {
    const relay = this.getRelay(name);
    const input = proxyInput(raw, 'udp.Relay', { listen: relay.listen, upstream: relay.upstream, enabled: relay.enabled });
    this.applyImpairments(relay, rawField(raw, 'impairments'));
    const listen = await resolvedText(input.listen);
    if (listen !== relay.listen || input.upstream !== relay.upstream) {
      relay.stop();
      relay.listen = input.listen;
      relay.upstream = input.upstream;
    }
    if (input.enabled !== relay.enabled) {
      if (input.enabled) await relay.start();
      else relay.stop();
    }
    return relay;
  }

  removeRelay(name: string): void {
    this.getRelay(name).stop();
    this.relays.delete(name);
  }

  /** `impairments: {upstream?, downstream?, both?}`, each merged into the current values. */
  private applyImpairments(relay: UdpRelay, raw: RawValue | undefined): void {
    if (raw === undefined || raw === null) return;
    const parts = decoding(() => {
      if (!(raw instanceof RawObject)) throw new GoJsonError('json: cannot unmarshal non-object into Go struct field Relay.impairments');
      const next: Record<StreamDirection, Impairments> = {
        upstream: relay.impairers.upstream.impairments,
        downstream: relay.impairers.downstream.impairments,
      };
      const both = rawField(raw, 'both');
      for (const dir of ['upstream', 'downstream'] as const) {
        if (both !== undefined) next[dir] = decodeImpairments(both, next[dir]);
        const own = rawField(raw, dir);
        if (own !== undefined) next[dir] = decodeImpairments(own, next[dir]);
      }
      return next;
    });
    relay.setImpairments('upstream', parts.upstream);
    relay.setImpairments('downstream', parts.downstream);
  }
}

function probability(v: unknown, field: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new GoJsonError(`impairments.${field} must be a probability between 0 and 1`);
  return v;
}

function nonNegative(v: unknown, field: string): number {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new GoJsonError(`impairments.${field} must be a number >= 0`);
  return v;
}

/** Strict where Toxiproxy is lax: a typo in a probability should not silently mean 0. */
export function decodeImpairments(raw: RawValue, base: Impairments): Impairments {
  if (raw === null) return base;
  const f = decodeStruct(raw, 'udp.Impairments', [
    { json: 'loss', kind: 'float32' },
    { json: 'latency', kind: 'float32' },
    { json: 'jitter', kind: 'float32' },
    { json: 'duplicate', kind: 'float32' },
    { json: 'reorder', kind: 'float32' },
    { json: 'reorder_window', kind: 'int64' },
    { json: 'down', kind: 'bool' },
  ]);
  const num = (k: string) => (f[k] === undefined ? undefined : Number(toxicityValue(f[k] as number)));
  const out: Impairments = { ...base, burst: base.burst ? { ...base.burst } : null };
  if (f.loss !== undefined) out.loss = probability(num('loss'), 'loss');
  if (f.latency !== undefined) out.latency = nonNegative(num('latency'), 'latency');
  if (f.jitter !== undefined) out.jitter = nonNegative(num('jitter'), 'jitter');
  if (f.duplicate !== undefined) out.duplicate = probability(num('duplicate'), 'duplicate');
  if (f.reorder !== undefined) out.reorder = probability(num('reorder'), 'reorder');
  if (f.reorder_window !== undefined) out.reorder_window = nonNegative(f.reorder_window, 'reorder_window');
  if (f.down !== undefined) out.down = f.down as boolean;
  const burst = rawField(raw, 'burst');
  if (burst === null) out.burst = null;
  else if (burst !== undefined) {
    const b = decodeStruct(burst, 'udp.Burst', [
      { json: 'enter', kind: 'float32' },
      { json: 'exit', kind: 'float32' },
      { json: 'loss', kind: 'float32' },
    ]);
    const prev = out.burst ?? { enter: 0, exit: 1, loss: 1 };
    out.burst = {
      enter: b.enter === undefined ? prev.enter : probability(toxicityValue(b.enter as number), 'burst.enter'),
      exit: b.exit === undefined ? prev.exit : probability(toxicityValue(b.exit as number), 'burst.exit'),
      loss: b.loss === undefined ? prev.loss : probability(toxicityValue(b.loss as number), 'burst.loss'),
    };
  }
  return out;
}

export { toxicJson };
