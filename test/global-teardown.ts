import { rmSync } from 'node:fs';
import { reapStale } from '../lab/local.ts';
import { allTestLabDirs, TEST_LAB_ROOT } from './helpers/labs.ts';

/** Whatever a failed or killed test left running under .tmp/test-labs is stopped here, by pid. */
async function reapAll(): Promise<void> {
  for (const dir of allTestLabDirs()) await reapStale(dir).catch(() => {});
}

export async function setup(): Promise<void> {
  await reapAll();
  rmSync(TEST_LAB_ROOT, { recursive: true, force: true });
}

export async function teardown(): Promise<void> {
  await reapAll();
  rmSync(TEST_LAB_ROOT, { recursive: true, force: true });
}
