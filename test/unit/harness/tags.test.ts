import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { parseTagExpression } from '../../../harness/scenario/index.ts';

describe('parseTagExpression', () => {
  it('evaluates and/or/not with precedence and parentheses', () => {
    const p = parseTagExpression('@tick or @redis and not @realtime');
    expect(p(['@tick'])).toBe(true);
    expect(p(['@redis'])).toBe(true);
    expect(p(['@redis', '@realtime'])).toBe(false);
    expect(p(['@tick', '@realtime'])).toBe(true);
    const q = parseTagExpression('(@tick or @redis) and not @realtime');
    expect(q(['@tick', '@realtime'])).toBe(false);
    expect(q(['@trade'])).toBe(false);
    expect(parseTagExpression('not not @trade')(['@trade'])).toBe(true);
  });
  it.each([
    ['@tik', /unknown tag @tik/],
    ['', /empty/],
    ['@tick and', /ends too early/],
    ['(@tick', /expected "\)"/],
    ['@tick @redis', /unexpected "@redis"/],
    ['tick', /expected a tag/],
  ])('"%s" is a ConfigError', (expr, msg) => {
    expect(() => parseTagExpression(expr)).toThrow(ConfigError);
    expect(() => parseTagExpression(expr)).toThrow(msg);
  });
});
