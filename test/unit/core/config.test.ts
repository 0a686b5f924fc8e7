import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { applyTimeScale, parseConfig, parseDocumentText, SCALED_DURATIONS } from '../../../core/config/index.ts';

describe('config defaults are the seed numbers', () => {
  const c = parseConfig({});
  it('§3.1 trade execution', () => {
    expect(c.trade.backoffMs).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(c.trade.maxAttempts).toBe(5);
    expect(c.trade.failedSyncRetryMs).toBe(30_000);
    expect(c.trade.failedSyncMaxAttempts).toBe(5);
    expect(c.trade.maxClickhouseSyncDelayMs).toBe(30_000);
    expect(c.trade.redisRetryMs).toBe(2000);
    expect(c.trade.redisFallbackThreshold).toBe(10);
  });
  it('§3.2 tick data', () => {
    expect(c.tick.udpToTcpFallback).toBe(true);
    expect(c.tick.reconnectIntervalMs).toBe(2000);
    expect(c.tick.maxReconnectAttempts).toBe(10);
    expect(c.tick.bufferSize).toBe(1);
  });
  it('§3.3 redis', () => {
    expect(c.redis.sentinelFailoverMs).toBe(3000);
    expect(c.redis.aofRecoveryMs).toBe(5000);
    expect(c.redis.rdbSnapshotIntervalMs).toBe(86_400_000);
    expect(c.redis.appendonly).toBe(true);
    expect(c.redis.appendfsync).toBe('everysec');
    expect(c.redis.reconnectIntervalMs).toBe(2000);
    expect(c.redis.maxReconnectAttempts).toBe(10);
    // Chosen so a killed master is replaced well under 3 s (docs/performance.md).
    expect(c.redis.sentinelDownAfterMs).toBeLessThan(1000);
    expect(c.redis.sentinelQuorum).toBe(2);
  });
  it('§3.4 duckdb', () => {
    expect(c.duckdb.walEnabled).toBe(true);
    expect(c.duckdb.walLimitBytes).toBe(256 * 1024 * 1024);
    expect(c.duckdb.backupIntervalMs).toBe(500);
  });
  it('§3.5 clickhouse', () => {
    expect(c.clickhouse.retryIntervalMs).toBe(5000);
    expect(c.clickhouse.maxRetryAttempts).toBe(3);
    expect(c.clickhouse.failedSyncRetryMs).toBe(30_000);
  });
  it('§3.6 process and §3.7 session', () => {
    expect(c.process).toEqual({ restartIntervalMs: 1000, maxRestartAttempts: 3, cooldownMs: 30_000 });
    expect(c.session).toEqual({ sentinelEnabled: true, reconnectIntervalMs: 2000, maxRecoveryAttempts: 5 });
  });
  it('§5 recovery goals', () => {
    expect(c.goals).toEqual({
      tradeExecutionMs: 1000,
      tickStreamMs: 100,
      redisStateMs: 3000,
      duckdbMs: 3000,
      clickhouseSyncMs: 5000,
      eaProcessMs: 1000,
      sessionStateMs: 3000,
    });
  });
  it('timeScale and seed', () => {
    expect(c.timeScale).toBe(1);
    expect(c.seed).toBe(1);
  });
});

describe('timeScale', () => {
  it('compresses policy durations and leaves goals alone', () => {
    const c = applyTimeScale(parseConfig({ timeScale: 0.01 }));
    expect(c.trade.backoffMs).toEqual([10, 20, 40, 80, 160]);
    expect(c.clickhouse.failedSyncRetryMs).toBe(300);
    expect(c.goals.tickStreamMs).toBe(100);
    expect(c.redis.sentinelDownAfterMs).toBe(parseConfig({}).redis.sentinelDownAfterMs);
  });
  it('every scaled path exists in the schema', () => {
    const c = parseConfig({}) as unknown as Record<string, Record<string, unknown>>;
    for (const p of SCALED_DURATIONS) {
      const [s, k] = p.split('.') as [string, string];
      expect(c[s]?.[k], p).toBeDefined();
    }
  });
});

describe('bad config', () => {
  it('names the path, the value and the expectation', () => {
    let err: unknown;
    try {
      parseConfig({ trade: { backoffMs: [1000, 'two'] }, clickhouse: { retryIntervalMs: -5 } }, 'cfg.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.code).toBe('E_CONFIG');
    expect(ce.message).toContain('cfg.yaml');
    expect(ce.issues.map((i) => i.path).sort()).toEqual(['clickhouse.retryIntervalMs', 'trade.backoffMs[1]']);
    expect(ce.message).toContain('trade.backoffMs[1]: got "two"');
    expect(ce.message).toMatch(/clickhouse\.retryIntervalMs: got -5; expected .*>=0/);
  });
  it('rejects unknown keys by name (typos do not silently fall back to defaults)', () => {
    expect(() => parseConfig({ trade: { maxAttempt: 3 } })).toThrow(/trade\.maxAttempt: got 3; expected no such field/);
  });
  it('reports YAML syntax errors with a line number', () => {
    expect(() => parseDocumentText('trade:\n  backoffMs: [1, 2\n', 'x.yaml')).toThrow(/invalid YAML in x\.yaml at line \d+/);
  });
  it('reports JSON syntax errors', () => {
    expect(() => parseDocumentText('{"seed": }', 'x.json')).toThrow(/invalid JSON in x\.json/);
  });

  it('never crashes on random malformed documents: only ConfigError, or a valid config', () => {
    const leaf = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined));
    const keys = fc.constantFrom('seed', 'timeScale', 'trade', 'tick', 'redis', 'duckdb', 'clickhouse', 'process', 'session', 'goals', 'lab', 'backoffMs', 'maxAttempts', 'x');
    const doc = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(keys, tie('node'), { maxKeys: 5 })),
    })).node;
    fc.assert(
      fc.property(doc, (d) => {
        try {
          const c = parseConfig(d, 'fuzz');
          expect(c.trade.maxAttempts).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as ConfigError).message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never crashes on random text fed to the document parser', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom('a.yaml', 'a.json'), (text, name) => {
        try {
          parseConfig(parseDocumentText(text, name), name);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
