import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { checksForTags, replayMeta, validateTags } from '../../../harness/run.ts';

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

describe('replay meta', () => {
  it("gives a replay the original report's tags, so the same checkers apply; nothing without a readable report", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-replay-meta-'));
    try {
      expect(replayMeta(dir)).toEqual({});
      writeFileSync(join(dir, 'report.json'), JSON.stringify({ scenarios: [{ name: 'duckdb-locked', description: 'lock', tags: ['@duckdb'] }, { name: 'udp', tags: ['@tick'] }, { name: 'odd' }] }));
      const m = replayMeta(dir);
      expect(Object.keys(m)).toEqual(['duckdb-locked', 'udp']);
      expect(m['duckdb-locked']!.checks).not.toContain('tick-gaps');
      expect(m['udp']!.checks).toContain('tick-gaps');
      writeFileSync(join(dir, 'report.json'), '{not json');
      expect(replayMeta(dir)).toEqual({});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
