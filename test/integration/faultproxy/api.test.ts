import { createServer } from 'node:net';
import { Toxiproxy } from 'toxiproxy-node-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FaultClient, startFaultProxy, type FaultProxyHandle } from '../../../faultproxy/index.ts';
import { freePort } from '../../../lab/ports.ts';
import { client, echoServer, http, portOf, until } from './helpers.ts';

let fp: FaultProxyHandle;
let echo: Awaited<ReturnType<typeof echoServer>>;
const up = () => `127.0.0.1:${echo.port}`;
const req = (method: string, path: string, body?: string | object, headers?: Record<string, string>) => http(fp.url, method, path, body, headers);

beforeAll(async () => {
  fp = await startFaultProxy({ port: 0, seed: 1 });
  echo = await echoServer();
});
afterAll(async () => {
  await fp?.stop();
  await echo?.close();
});
beforeEach(async () => {
  for (const name of Object.keys((await req('GET', '/proxies')).json())) await req('DELETE', `/proxies/${name}`);
});

describe('version and routing', () => {
  it('/version answers exactly as Toxiproxy 2.12', async () => {
    const r = await req('GET', '/version');
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"version": "2.12.0"}\n');
    expect(r.headers.get('content-type')).toBe('application/json;charset=utf-8');
    expect(await new Toxiproxy(fp.url).getVersion()).toBe('{"version": "2.12.0"}\n');
  });

  it('unknown paths are 404 text, wrong methods 405 empty, neither with a request id', async () => {
    const a = await req('GET', '/nope');
    expect([a.status, a.text]).toEqual([404, '404 page not found\n']);
    expect(a.headers.get('x-toxiproxy-request-id')).toBeNull();
    for (const [m, p] of [['PUT', '/proxies'], ['DELETE', '/proxies'], ['GET', '/reset']]) {
      const r = await req(m!, p!);
      expect([r.status, r.text]).toEqual([405, '']);
    }
    const ok = await req('GET', '/proxies');
    expect(ok.headers.get('x-toxiproxy-request-id')).toMatch(/^[0-9a-v]{20}$/);
  });

  it('blocks browsers with 403', async () => {
    const r = await req('GET', '/proxies', undefined, { 'User-Agent': 'Mozilla/5.0' });
    expect([r.status, r.text]).toEqual([403, 'User agent not allowed\n']);
  });
});

describe('proxies', () => {
  it('creates with 201, rewrites listen to the bound address and emits the Toxiproxy field order', async () => {
    const r = await req('POST', '/proxies', { name: 'a', listen: 'localhost:0', upstream: up() });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.text).toMatch(/^\{"name":"a","listen":"127\.0\.0\.1:\d+","upstream":"127\.0\.0\.1:\d+","enabled":true,"Logger":\{\},"toxics":\[\]\}$/);
    const any = await req('POST', '/proxies', { name: 'b', listen: '', upstream: up() });
    expect(any.json().listen).toMatch(/^\[::\]:\d+$/);
    const c = await client(portOf(r.json().listen));
    c.socket.write('ping');
    await until('echo', () => c.received().toString() === 'ping');
    c.socket.destroy();
  });

  it('answers the exact 400, 409 and 500 errors, 409 before bind, and keeps running', async () => {
    const missing = await req('POST', '/proxies', { upstream: up() });
    expect([missing.status, missing.json()]).toEqual([400, { error: 'missing required field: name', status: 400 }]);
    expect(missing.text.endsWith('\n')).toBe(true);
    const noUp = await req('POST', '/proxies', { name: 'x' });
    expect(noUp.json()).toEqual({ error: 'missing required field: upstream', status: 400 });
    const first = await req('POST', '/proxies', { name: 'dup', listen: '127.0.0.1:0', upstream: up() });
    const taken = first.json().listen as string;
    const dup = await req('POST', '/proxies', { name: 'dup', listen: taken, upstream: up() });
    expect([dup.status, dup.json()]).toEqual([409, { error: 'proxy already exists', status: 409 }]);
    const inUse = await req('POST', '/proxies', { name: 'other', listen: taken, upstream: up() });
    expect([inUse.status, inUse.json()]).toEqual([500, { error: `listen tcp ${taken}: bind: address already in use`, status: 500 }]);
    expect((await req('GET', '/proxies/other')).status).toBe(404);
    const noPort = await req('POST', '/proxies', { name: 'np', listen: 'local373', upstream: up() });
    expect(noPort.json()).toEqual({ error: 'listen tcp: address local373: missing port in address', status: 500 });
    const bad = await req('POST', '/proxies', '{"name": "x", ');
    expect(bad.json()).toEqual({ error: 'bad request body: unexpected EOF', status: 400 });
    const wrongType = await req('POST', '/proxies', { name: 'x', upstream: up(), enabled: 'yes' });
    expect(wrongType.json()).toEqual({ error: 'bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool', status: 400 });
    expect((await req('POST', '/proxies', '')).json().error).toBe('bad request body: EOF');
    // Still forwarding after all that.
    const c = await client(portOf(taken));
    c.socket.write('still');
    await until('echo', () => c.received().toString() === 'still');
    c.socket.destroy();
  });

  it('rejects oversized bodies with the error shape and keeps serving', async () => {
    const big = JSON.stringify({ name: 'big', upstream: up(), pad: 'x'.repeat(2 << 20) });
    const r = await req('POST', '/proxies', big);
    expect([r.status, r.json()]).toEqual([400, { error: 'bad request body: http: request body too large', status: 400 }]);
    expect((await req('GET', '/proxies')).status).toBe(200);
  });

  it('accepts case-insensitive keys, ignores unknown fields and trailing bytes', async () => {
    const r = await req('POST', '/proxies', `{"Name":"ci","UPSTREAM":"${up()}","listen":"127.0.0.1:0","toxics":[{"type":"latency"}]} trailing`);
    expect(r.status).toBe(201);
    expect(r.json()).toMatchObject({ name: 'ci', upstream: up(), toxics: [] });
  });

  it('a disabled proxy keeps its listen verbatim until it starts, then comes back on the same port', async () => {
    const port = await freePort();
    const r = await req('POST', '/proxies', { name: 'd', listen: `localhost:${port}`, upstream: up(), enabled: false });
    expect(r.json()).toMatchObject({ listen: `localhost:${port}`, enabled: false });
    await expect(client(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const on = await req('POST', '/proxies/d', { enabled: true });
    expect(on.json()).toMatchObject({ listen: `127.0.0.1:${port}`, enabled: true });
    const off = await req('PATCH', '/proxies/d', { enabled: false });
    expect(off.json().listen).toBe(`127.0.0.1:${port}`);
    const again = await req('POST', '/proxies/d', { enabled: true });
    expect(again.json().listen).toBe(`127.0.0.1:${port}`);
  });

  it('lists proxies as an object sorted by name; deletes with 204 and an empty body', async () => {
    expect((await req('GET', '/proxies')).text).toBe('{}');
    for (const n of ['zeta', 'alpha']) await req('POST', '/proxies', { name: n, listen: '127.0.0.1:0', upstream: up() });
    expect(Object.keys((await req('GET', '/proxies')).json())).toEqual(['alpha', 'zeta']);
    const del = await req('DELETE', '/proxies/alpha');
    expect([del.status, del.text, del.headers.get('content-type')]).toEqual([204, '', null]);
    expect((await req('DELETE', '/proxies/alpha')).json()).toEqual({ error: 'proxy not found', status: 404 });
  });

  it('update: identical values (hostname spelling) keep connections; a new upstream drops them; disable refuses', async () => {
    const r = (await req('POST', '/proxies', { name: 'u', listen: '127.0.0.1:0', upstream: up() })).json();
    const port = portOf(r.listen);
    const c = await client(port);
    const same = await req('POST', '/proxies/u', { listen: `localhost:${port}`, upstream: up(), enabled: true });
    expect(same.status).toBe(200);
    c.socket.write('alive');
    await until('echo after no-op update', () => c.received().toString() === 'alive');
    const other = await echoServer();
    try {
      const moved = await req('POST', '/proxies/u', { upstream: `127.0.0.1:${other.port}` });
      expect(moved.json()).toMatchObject({ listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${other.port}`, enabled: true });
      await until('old connection closed', () => c.closed);
      const c2 = await client(port);
      c2.socket.write('x');
      await until('new upstream', () => c2.received().length === 1 && other.sockets.size === 1);
      await req('POST', '/proxies/u', { enabled: false });
      await until('closed on disable', () => c2.closed);
      await expect(client(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      await other.close();
    }
    const badResolve = await req('POST', '/proxies/u', { listen: 'local373' });
    expect(badResolve.json()).toEqual({ error: 'address local373: missing port in address', status: 500 });
  });
});

describe('toxics', () => {
  beforeEach(async () => {
    await req('POST', '/proxies', { name: 'p', listen: '127.0.0.1:0', upstream: up() });
  });

  it('creates with Toxiproxy defaults and answers 200 with the toxic field order', async () => {
    const r = await req('POST', '/proxies/p/toxics', { type: 'latency' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}');
    const up2 = await req('POST', '/proxies/p/toxics', { type: 'slicer', stream: 'UpStream', toxicity: 0.1, attributes: { average_size: 5, bogus: 1 } });
    expect(up2.json()).toEqual({ attributes: { average_size: 5, size_variation: 0, delay: 0 }, name: 'slicer_UpStream', type: 'slicer', stream: 'UpStream', toxicity: 0.1 });
    const noop = await req('POST', '/proxies/p/toxics', { type: 'noop', toxicity: 0 });
    expect(noop.json()).toMatchObject({ attributes: {}, toxicity: 0 });
    // Upstream toxics come first, then downstream, each in creation order.
    const list = await req('GET', '/proxies/p/toxics');
    expect(list.json().map((t: { name: string }) => t.name)).toEqual(['slicer_UpStream', 'latency_downstream', 'noop_downstream']);
    expect((await req('GET', '/proxies/p')).json().toxics).toHaveLength(3);
  });

  it('answers the exact toxic errors', async () => {
    const e = async (body: unknown) => (await req('POST', '/proxies/p/toxics', body as object)).json();
    expect(await e({ type: 'latency', stream: '' })).toEqual({ error: 'stream was invalid, can be either upstream or downstream', status: 400 });
    expect(await e({ type: 'down' })).toEqual({ error: 'invalid toxic type', status: 400 });
    expect(await e({ type: 'latency', attributes: { latency: 1.5 } })).toEqual({
      error: 'bad request body: json: cannot unmarshal number 1.5 into Go struct field LatencyToxic.latency of type int64',
      status: 400,
    });
    await req('POST', '/proxies/p/toxics', { name: 'same', type: 'latency', stream: 'upstream' });
    const dup = await req('POST', '/proxies/p/toxics', { name: 'same', type: 'noop', stream: 'downstream' });
    expect([dup.status, dup.json()]).toEqual([409, { error: 'toxic already exists', status: 409 }]);
    expect((await req('POST', '/proxies/nope/toxics', '{bad')).json()).toEqual({ error: 'proxy not found', status: 404 });
    expect((await req('GET', '/proxies/p/toxics/nope')).json()).toEqual({ error: 'toxic not found', status: 404 });
    expect((await req('DELETE', '/proxies/p/toxics/nope')).status).toBe(404);
  });

  it('update merges attributes and keeps toxicity; delete answers 204', async () => {
    await req('POST', '/proxies/p/toxics', { type: 'latency', toxicity: 0.5, attributes: { latency: 100, jitter: 10 } });
    const u = await req('POST', '/proxies/p/toxics/latency_downstream', { attributes: { latency: 1000 }, type: 'bandwidth', stream: 'upstream' });
    expect(u.json()).toEqual({ attributes: { latency: 1000, jitter: 10 }, name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 0.5 });
    const p = await req('PATCH', '/proxies/p/toxics/latency_downstream', { toxicity: 1 });
    expect(p.json().toxicity).toBe(1);
    const d = await req('DELETE', '/proxies/p/toxics/latency_downstream');
    expect([d.status, d.text]).toEqual([204, '']);
    expect((await req('GET', '/proxies/p/toxics')).text).toBe('[]');
  });
});

describe('populate and reset', () => {
  it('creates in input order, keeps same-address proxies with their toxics, replaces changed ones, never deletes', async () => {
    const portA = await freePort();
    const r = await req('POST', '/populate', [
      { name: 'a', listen: `127.0.0.1:${portA}`, upstream: up() },
      { name: 'b', listen: '127.0.0.1:0', upstream: up(), enabled: false },
    ]);
    expect(r.status).toBe(201);
    expect(r.json().proxies.map((p: { name: string }) => p.name)).toEqual(['a', 'b']);
    await req('POST', '/proxies', { name: 'c', listen: '127.0.0.1:0', upstream: up() });
    await req('POST', '/proxies/a/toxics', { type: 'noop' });
    const again = await req('POST', '/populate', [
      { name: 'a', listen: `localhost:${portA}`, upstream: up() },
      { name: 'b', listen: '127.0.0.1:0', upstream: 'elsewhere:1' },
    ]);
    expect(again.status).toBe(201);
    const all = (await req('GET', '/proxies')).json();
    expect(all.a.toxics).toHaveLength(1);
    expect(all.b).toMatchObject({ upstream: 'elsewhere:1', enabled: true, toxics: [] });
    expect(all.c).toBeDefined();
    // The node client's own expectation: listen comes back exactly as given.
    const tp = new Toxiproxy(fp.url);
    const port = await freePort();
    await tp.populate([{ name: 'n', listen: `127.0.0.1:${port}`, upstream: up() }]);
    expect((await tp.getAll()).n!.listen).toBe(`127.0.0.1:${port}`);
  });

  it('validates every entry first, and stops at the first failure keeping the ones done', async () => {
    const bad = await req('POST', '/populate', [{ name: 'ok', upstream: up(), listen: '127.0.0.1:0' }, { name: 'x' }]);
    expect([bad.status, bad.json()]).toEqual([400, { error: 'missing required field: upstream at proxy 2', status: 400, proxies: null }]);
    expect((await req('GET', '/proxies')).text).toBe('{}');
    const notArray = await req('POST', '/populate', { name: 'x' });
    expect(notArray.json()).toEqual({ error: 'bad request body: json: cannot unmarshal object into Go value of type []toxiproxy.Proxy', status: 400, proxies: null });
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const partial = await req('POST', '/populate', [
        { name: 'first', listen: '127.0.0.1:0', upstream: up() },
        { name: 'second', listen: `127.0.0.1:${port}`, upstream: up() },
        { name: 'third', listen: '127.0.0.1:0', upstream: up() },
      ]);
      expect(partial.status).toBe(500);
      expect(partial.json()).toMatchObject({ error: `listen tcp 127.0.0.1:${port}: bind: address already in use`, status: 500 });
      expect(partial.json().proxies.map((p: { name: string }) => p.name)).toEqual(['first']);
      expect(Object.keys((await req('GET', '/proxies')).json())).toEqual(['first']);
    } finally {
      blocker.close();
    }
    expect((await req('POST', '/populate', [])).json()).toEqual({ proxies: [] });
  });

  it('reset re-enables every proxy and removes every toxic but deletes nothing', async () => {
    await req('POST', '/proxies', { name: 'r1', listen: '127.0.0.1:0', upstream: up() });
    await req('POST', '/proxies/r1/toxics', { type: 'latency', attributes: { latency: 10 } });
    await req('POST', '/proxies/r1', { enabled: false });
    const r = await req('POST', '/reset');
    expect([r.status, r.text]).toEqual([204, '']);
    expect((await req('GET', '/proxies/r1')).json()).toMatchObject({ enabled: true, toxics: [] });
  });
});

describe('through toxiproxy-node-client and our wrapper', () => {
  it('drives the whole surface, and turns failures into coded errors', async () => {
    const tp = new Toxiproxy(fp.url);
    const proxy = await tp.createProxy({ name: 'nc', listen: 'localhost:0', upstream: up() });
    expect(proxy.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    const toxic = await proxy.addToxic<{ latency: number; jitter: number }>({ type: 'latency', attributes: { latency: 5, jitter: 1 } } as never);
    expect(toxic.name).toBe('latency_downstream');
    const updated = await toxic.update({ attributes: { latency: 50 } } as never);
    expect(updated.attributes).toEqual({ latency: 50, jitter: 1 });
    await expect(tp.createProxy({ name: 'nc', listen: 'localhost:0', upstream: up() })).rejects.toThrow('Request failed with status code 409');
    await toxic.remove();
    await expect(proxy.getToxic('latency_downstream')).rejects.toThrow('Request failed with status code 404');
    const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    expect(disabled.enabled).toBe(false);
    await tp.reset();
    expect((await tp.get('nc')).enabled).toBe(true);
    await proxy.remove();

    const fc = new FaultClient(fp.url);
    expect(await fc.version()).toBe('2.12.0');
    await fc.createProxy({ name: 'w', listen: '127.0.0.1:0', upstream: up() });
    await expect(fc.createProxy({ name: 'w', listen: '127.0.0.1:0', upstream: up() })).rejects.toMatchObject({ code: 'E_PROXY_CONFLICT' });
    await expect(fc.getProxy('missing')).rejects.toMatchObject({ code: 'E_PROXY_NOT_FOUND' });
    await expect(fc.addToxic('w', { type: 'bogus' as never, attributes: {} })).rejects.toMatchObject({ code: 'E_PROXY_BAD_REQUEST' });
    const t = await fc.addToxic('w', { type: 'limit_data', stream: 'upstream', attributes: { bytes: 3 } });
    expect(t).toMatchObject({ name: 'limit_data_upstream', stream: 'upstream', toxicity: 1 });
    expect((await fc.updateToxic('w', t.name, { attributes: { bytes: 9 } })).attributes).toEqual({ bytes: 9 });
    expect((await fc.setEnabled('w', false)).enabled).toBe(false);
    const dead = new FaultClient(`http://127.0.0.1:${await freePort()}`);
    await expect(dead.getAll()).rejects.toMatchObject({ code: 'E_PROXY_UNREACHABLE' });
  });
});
