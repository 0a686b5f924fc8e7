import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { effectiveConfig, lastGoodPath, loadRuntimeConfig, parseRuntimeConfig } from '../../../runtime/config.ts';
import { ConfigError } from '../../../core/errors.ts';

const valid = { runtime: { instanceId: 'u1', magic: 9, dataDir: '/tmp/x', broker: { host: '127.0.0.1', port: 1234 } } };
const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ea-rt-cfg-'));
  dirs.push(d);
  return d;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('runtime config', () => {
  it('never starts on defaults: the runtime section and its endpoints are required, errors name the field', () => {
    expect(() => parseRuntimeConfig({}, 'c.json')).toThrow(/runtime/);
    try {
      parseRuntimeConfig({ runtime: { ...valid.runtime, broker: { host: '127.0.0.1', port: 'x' } } }, 'c.json');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues[0]!.path).toBe('runtime.broker.port');
    }
  });

  it('keeps the control API on loopback', () => {
    expect(() => parseRuntimeConfig({ runtime: { ...valid.runtime, control: { host: '0.0.0.0' } } }, 'c')).toThrow(/runtime\.control\.host/);
    expect(parseRuntimeConfig(valid, 'c').runtime.control.host).toBe('127.0.0.1');
  });

  it('scales runtime policy durations with timeScale, like the core ones', () => {
    const c = effectiveConfig(parseRuntimeConfig({ ...valid, timeScale: 0.1 }, 'c'));
    expect(c.trade.backoffMs).toEqual([100, 200, 400, 800, 1600]);
    expect(c.runtime.reconcileIntervalMs).toBe(100);
    expect(c.goals.tradeExecutionMs).toBe(1000);
  });

  it('keeps a last-good copy and restores it over a corrupted file, keeping the broken one aside', () => {
    const d = dir();
    const f = join(d, 'rt.json');
    writeFileSync(f, JSON.stringify(valid));
    expect(loadRuntimeConfig(f, 1).restored).toBeUndefined();
    expect(readFileSync(lastGoodPath(f), 'utf8')).toBe(JSON.stringify(valid));
    writeFileSync(f, '{"runtime": {"instanceId": "u1", "magic": ');
    const r = loadRuntimeConfig(f, 2);
    expect(r.restored).toBeDefined();
    expect(r.config.runtime.magic).toBe(9);
    expect(readFileSync(f, 'utf8')).toBe(JSON.stringify(valid));
    expect(readdirSync(d)).toContain('rt.json.corrupt-2');
  });

  it('an invalid (well-formed) file is restored too, and the event names the field', () => {
    const d = dir();
    const f = join(d, 'rt.json');
    writeFileSync(f, JSON.stringify(valid));
    loadRuntimeConfig(f, 1);
    writeFileSync(f, JSON.stringify({ ...valid, runtime: { ...valid.runtime, magic: -1 } }));
    const r = loadRuntimeConfig(f, 2);
    expect(r.restored?.field).toBe('runtime.magic');
  });

  it('without a last-good copy a broken file is an error, not a start on defaults', () => {
    const d = dir();
    const f = join(d, 'rt.json');
    writeFileSync(f, '{broken');
    expect(() => loadRuntimeConfig(f, 1)).toThrow(ConfigError);
  });
});
