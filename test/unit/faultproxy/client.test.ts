import { ToxiproxyError } from 'toxiproxy-node-client';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { FaultProxyClientError, resolveToxiproxyUrl, toClientError } from '../../../faultproxy/client.ts';
import { parsePopulateDocument } from '../../../faultproxy/populate-file.ts';

describe('Toxiproxy URL choice', () => {
  const config = { lab: { toxiproxyUrl: 'http://cfg:8474/' } };
  it('TOXIPROXY_URL wins over the config, which wins over the embedded server', () => {
    expect(resolveToxiproxyUrl({ env: { TOXIPROXY_URL: 'http://env:1' }, config, embeddedUrl: 'http://emb:2' })).toEqual({ url: 'http://env:1', source: 'env' });
    expect(resolveToxiproxyUrl({ env: {}, config, embeddedUrl: 'http://emb:2' })).toEqual({ url: 'http://cfg:8474', source: 'config' });
    expect(resolveToxiproxyUrl({ env: { TOXIPROXY_URL: '  ' }, embeddedUrl: 'http://emb:2' })).toEqual({ url: 'http://emb:2', source: 'embedded' });
    expect(resolveToxiproxyUrl({ env: {}, config: { lab: { external: { toxiproxyUrl: 'http://ext:3' } } } }).source).toBe('config');
  });

  it('with nothing to use it fails with a coded error', () => {
    expect(() => resolveToxiproxyUrl({ env: {} })).toThrow(FaultProxyClientError);
    try {
      resolveToxiproxyUrl({ env: {} });
    } catch (e) {
      expect((e as FaultProxyClientError).code).toBe('E_PROXY_NO_URL');
    }
  });
});

describe('client error mapping', () => {
  it('turns the client status-code rejections into coded errors with the cause kept', () => {
    const raw = new ToxiproxyError('Error', 'Request failed with status code 409');
    const e = toClientError(raw, 'create proxy x', 'http://h:1');
    expect(e.code).toBe('E_PROXY_CONFLICT');
    expect(e.cause).toBe(raw);
    expect(e.details).toMatchObject({ status: 409 });
    expect(toClientError(new ToxiproxyError('Error', 'Request failed with status code 404'), 'op', 'u').code).toBe('E_PROXY_NOT_FOUND');
    expect(toClientError(new ToxiproxyError('Error', 'Request failed with status code 400'), 'op', 'u').code).toBe('E_PROXY_BAD_REQUEST');
    expect(toClientError(new ToxiproxyError('Error', 'Request failed with status code 503'), 'op', 'u').code).toBe('E_PROXY_SERVER');
  });

  it('handles string rejections and unreachable servers', () => {
    expect(toClientError('Request failed with status code 500', 'op', 'u').code).toBe('E_PROXY_SERVER');
    expect(toClientError(new ToxiproxyError('TypeError', 'fetch failed'), 'op', 'u').code).toBe('E_PROXY_UNREACHABLE');
    expect(toClientError('something odd', 'op', 'u').code).toBe('E_PROXY_CLIENT');
  });
});

describe('populate file', () => {
  it('accepts Toxiproxy populate entries and ignores unknown keys', () => {
    expect(parsePopulateDocument([{ name: 'a', listen: '127.0.0.1:0', upstream: 'h:1', extra: 1 }], 'f.json')).toEqual([
      { name: 'a', listen: '127.0.0.1:0', upstream: 'h:1' },
    ]);
  });

  it('names the bad field', () => {
    try {
      parsePopulateDocument([{ name: 'a', upstream: 'h:1' }, { name: 'b', upstream: 5 }], 'f.json');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues[0]!.path).toBe('[1].upstream');
    }
  });
});
