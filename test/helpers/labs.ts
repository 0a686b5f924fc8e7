import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.ts';

/** Test labs live under .tmp/test-labs so the global teardown can reap whatever a crashed test left. */
export const TEST_LAB_ROOT = join(ROOT, '.tmp', 'test-labs');

export function tempLabDir(prefix = 'lab'): string {
  mkdirSync(TEST_LAB_ROOT, { recursive: true });
  return mkdtempSync(join(TEST_LAB_ROOT, `${prefix}-`));
}

export function allTestLabDirs(): string[] {
  try {
    return readdirSync(TEST_LAB_ROOT).map((d) => join(TEST_LAB_ROOT, d));
  } catch {
    return [];
  }
}
