import { describe, expect, it } from 'vitest';
import { isLockError } from '../../../runtime/store/duckdb.ts';

describe('isLockError', () => {
  it('recognises a file held by another process', () => {
    expect(isLockError(new Error('IO Error: Could not set lock on file "/d/ea-0.duckdb": Conflicting lock is held in /usr/bin/node (PID 42)'))).toBe(true);
  });
  it('does not take a corrupt block for a lock (the "lock" in "block")', () => {
    expect(isLockError(new Error('IO Error: Corrupt database file: computed checksum 1 does not match stored checksum 2 in block at location 12288'))).toBe(false);
  });
});
