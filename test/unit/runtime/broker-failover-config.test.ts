import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { parseRuntimeConfig } from '../../../runtime/config.ts';

const runtime = { instanceId: 'u1', magic: 9, dataDir: '/tmp/x', broker: { host: '127.0.0.1', port: 1234 } };

describe('runtime.brokerFailover', () => {
  it('defaults to no backup access point and a breaker of 3 consecutive failures', () => {
    expect(parseRuntimeConfig({ runtime }, 'c').runtime.brokerFailover).toEqual({ backups: [], afterFailures: 3 });
  });

  it('takes an ordered list of backup endpoints', () => {
    const backups = [
      { host: '127.0.0.1', port: 2001 },
      { host: '127.0.0.1', port: 2002 },
    ];
    expect(parseRuntimeConfig({ runtime: { ...runtime, brokerFailover: { backups, afterFailures: 5 } } }, 'c').runtime.brokerFailover).toEqual({ backups, afterFailures: 5 });
  });

  it('names the field of a bad backup endpoint', () => {
    try {
      parseRuntimeConfig({ runtime: { ...runtime, brokerFailover: { backups: [{ host: '127.0.0.1', port: 0 }] } } }, 'c.json');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues[0]!.path).toBe('runtime.brokerFailover.backups[0].port');
    }
  });
});
