import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { checksForTags, validateTags } from '../../../harness/run.ts';

describe('--tags validation', () => {
  it('accepts the features\' tags and the conventional ones, even when no feature uses them', () => {
    expect(() => validateTags('@redis and not @wip')).not.toThrow();
    expect(() => validateTags('not @realtime')).not.toThrow();
    expect(() => validateTags(undefined)).not.toThrow();
  });
  it('rejects an unknown tag and a malformed expression with a ConfigError naming it', () => {
    expect(() => validateTags('@redsi')).toThrow(ConfigError);
    expect(() => validateTags('@redsi')).toThrow(/unknown tag @redsi/);
    expect(() => validateTags('@redis and (')).toThrow(/invalid --tags expression/);
  });
  it('applies the tick-gap checker to @tick scenarios only, and only duplicates to @ea-stopped ones', () => {
    expect(checksForTags(['@redis'])).not.toContain('tick-gaps');
    expect(checksForTags(['@tick'])).toContain('tick-gaps');
    expect(checksForTags(['@tick'])).toContain('tick-store-consistency');
    expect(checksForTags(['@redis'])).not.toContain('tick-store-consistency');
    expect(checksForTags(['@process', '@ea-stopped'])).toEqual(['orders-duplicated']);
  });
});
