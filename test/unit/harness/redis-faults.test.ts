import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { checkInstanceIsolation, type InstanceView } from '../../../harness/checkers/isolation.ts';
import { faultEffect, parseScenario } from '../../../harness/scenario/index.ts';
import { redisRefusedAof } from '../../../lab/redis.ts';

const base = (faults: unknown[]) => ({ name: 'demo', description: 'a demo', tags: ['@redis'], faults });

describe('file.corrupt redis-aof in scenario files', () => {
  it('is accepted, disturbs Redis and Session State, and is timed from the corruption', () => {
    expect(() => parseScenario(base([{ at: '1s', kind: 'file.corrupt', target: 'redis-aof', file: { mode: 'truncate' } }]))).not.toThrow();
    expect(faultEffect('file.corrupt', 'redis-aof')).toEqual({ components: ['redis', 'session'], reference: 'injection' });
  });
  it('takes no runtime index, and says so', () => {
    try {
      parseScenario(base([{ at: 0, kind: 'file.corrupt', target: 'redis-aof:1' }]), 'x.yaml');
      expect.unreachable('redis-aof:1 was accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const issue = (e as ConfigError).issues[0]!;
      expect(issue).toMatchObject({ path: 'faults[0].target', received: 'redis-aof:1' });
      expect(issue.expected).toMatch(/redis-aof \(the Redis master's AOF, no :N\)/);
    }
  });
  it('rejects an unknown corruption mode with its path', () => {
    try {
      parseScenario(base([{ at: 0, kind: 'file.corrupt', target: 'redis-aof', file: { mode: 'shred' } }]), 'x.yaml');
      expect.unreachable('mode shred was accepted');
    } catch (e) {
      expect((e as ConfigError).issues[0]!.path).toMatch(/^faults\[0\]\.file\.mode/);
    }
  });
});

describe('redisRefusedAof', () => {
  it("recognises Redis 7's refusal lines, not a tolerated torn tail", () => {
    expect(redisRefusedAof('# Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup')).toBe(true);
    expect(redisRefusedAof('# Unrecoverable error reading the append only file appendonly.aof.1.incr.aof: Success')).toBe(true);
    expect(redisRefusedAof('# !!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!\n# AOF loaded anyway because aof-load-truncated is enabled')).toBe(false);
    expect(redisRefusedAof('* Ready to accept connections')).toBe(false);
  });
});

describe('checkInstanceIsolation', () => {
  const view = (i: number, orders: string[], extra: Partial<InstanceView> = {}): InstanceView => ({ instance: `ea-${i}`, magic: 7000 + i, orders, touched: orders, positionMagics: [7000 + i], ...extra });
  const deals = [
    { comment: 'ea0.k.1', magic: 7000, ticket: 1 },
    { comment: 'ea1.k.1', magic: 7001, ticket: 2 },
  ];
  it('passes when each instance holds, touches and placed only its own orders', () => {
    expect(checkInstanceIsolation([view(0, ['ea0.k.1']), view(1, ['ea1.k.1'])], deals).status).toBe('pass');
  });
  it("fails when an instance reconciled another instance's order", () => {
    const r = checkInstanceIsolation([view(0, ['ea0.k.1'], { touched: ['ea0.k.1', 'ea1.k.1'] }), view(1, ['ea1.k.1'])], deals);
    expect(r.status).toBe('fail');
    expect(r.counterexamples[0]).toMatchObject({ instance: 'ea-0', clientId: 'ea1.k.1' });
  });
  it("fails when a deal carries another instance's magic", () => {
    const r = checkInstanceIsolation([view(0, ['ea0.k.1']), view(1, ['ea1.k.1'])], [...deals, { comment: 'ea1.k.2', magic: 7000, ticket: 3 }]);
    expect(r.status).toBe('fail');
  });
  it('cannot decide without a ledger, with one instance, or when an instance never traded', () => {
    expect(checkInstanceIsolation([view(0, ['ea0.k.1']), view(1, ['ea1.k.1'])], null).status).toBe('unknown');
    expect(checkInstanceIsolation([view(0, ['ea0.k.1'])], deals).status).toBe('unknown');
    expect(checkInstanceIsolation([view(0, ['ea0.k.1']), view(1, [])], deals).status).toBe('unknown');
  });
});
