import { rmSync } from 'node:fs';
import { reapStale } from '../lab/local.ts';
import { claimRunLabRoot, labDirsOf, orphanedRunRoots } from './helpers/labs.ts';

/** Stops, by pid, whatever the labs under one run folder left running, then removes the folder. */
async function reapRoot(root: string): Promise<void> {
  for (const dir of labDirsOf(root)) await reapStale(dir).catch(() => {});
  rmSync(root, { recursive: true, force: true });
}

let own: string | undefined;

export async function setup(): Promise<void> {
  // Only runs whose vitest process has died are reaped: a concurrent run's labs are alive.
  for (const root of orphanedRunRoots()) await reapRoot(root);
  own = claimRunLabRoot();
}

export async function teardown(): Promise<void> {
  if (own) await reapRoot(own);
}
