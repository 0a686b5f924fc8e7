import { After, Before, setDefaultTimeout, Status } from '@cucumber/cucumber';
import type { ChaosWorld } from './world.ts';

// A scenario brings up a whole lab and waits on recoveries: give steps room, bounded.
setDefaultTimeout(120_000);

Before(function (this: ChaosWorld, { pickle }) {
  this.scenarioName = pickle.name;
  this.scenarioTags = pickle.tags.map((t) => t.name);
  this.startedAt = Date.now();
});

// The testbed is released on every path, failure included.
After(async function (this: ChaosWorld, { result }) {
  const status = result?.status === Status.PASSED ? 'passed' : result?.status === Status.SKIPPED ? 'skipped' : 'failed';
  try {
    this.writeResult(status, result?.message);
    await this.writeHistory().catch((e: unknown) => this.notes.push(`history not collected: ${(e as Error).message}`));
  } finally {
    await this.bed?.stop();
  }
});
