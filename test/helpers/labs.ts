import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.ts';

/**
 * Test labs live under .tmp/test-labs/run-<pid>, one folder per vitest run, so a
 * run's teardown can reap whatever its crashed tests left without touching the
 * labs of another run sharing the checkout.
 */
export const TEST_LAB_ROOT = join(ROOT, '.tmp', 'test-labs');
const RUN_ENV = 'EA_CHAOS_TEST_RUN';

export function runLabRoot(run = process.env[RUN_ENV] ?? String(process.ppid)): string {
  return join(TEST_LAB_ROOT, `run-${run}`);
}

/** Called once by the global setup; workers inherit the variable. */
export function claimRunLabRoot(): string {
  process.env[RUN_ENV] = String(process.pid);
  return runLabRoot();
}

export function tempLabDir(prefix = 'lab'): string {
  const root = runLabRoot();
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `${prefix}-`));
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).map((d) => join(dir, d));
  } catch {
    return [];
  }
}

export function labDirsOf(runRoot: string): string[] {
  return list(runRoot);
}

/** Run folders whose vitest process is gone: what a killed run left behind. */
export function orphanedRunRoots(): string[] {
  return list(TEST_LAB_ROOT).filter((dir) => {
    const m = /run-(\d+)$/.exec(dir);
    if (!m) return true;
    try {
      process.kill(Number(m[1]), 0);
      return false;
    } catch {
      return true;
    }
  });
}
