import { Given, Then, When } from '@cucumber/cucumber';
import { checkOrdersDuplicated, checkOrdersLost, checkOrphanedPositions, type CheckResult } from '../../harness/checkers/checkers.ts';
import { waitFor } from '../../core/wait.ts';
import { quiesce, readOutcomes } from '../../harness/collect.ts';
import type { ChaosWorld } from '../support/world.ts';

/** A failed check's message, with its first witnesses so the failure can be read without the report. */
function failure(r: CheckResult): string {
  return `${r.name}: ${r.details}; e.g. ${JSON.stringify(r.counterexamples.slice(0, 3))}`;
}

const filled = (e: { type: string; data?: Record<string, unknown> }) => e.type === 'order.state' && (e.data?.to === 'filled' || e.data?.state === 'filled');

/** Fills before a fault is injected: enough that the fault lands on an order stream, not on its first order. */
const WARM_FILLS = 3;

Given('the EA runtime is trading', async function (this: ChaosWorld) {
  const bed = await this.startBed({ instances: 1, ordersPerSecond: 10 });
  await waitFor(() => (bed.events().filter(filled).length >= WARM_FILLS ? true : undefined), { timeoutMs: 20_000, intervalMs: 10, what: `${WARM_FILLS} filled orders` });
  this.memo.set('workload', true);
});

/**
 * An EA that survives a fault must also trade again: one order filled after the
 * last fault was healed (or, for a kill, injected) shows the workload resumed.
 * Without it, "nothing lost" could hold only because nothing happened.
 */
async function tradingResumed(world: ChaosWorld): Promise<void> {
  if (!world.memo.get('workload')) return;
  const bed = world.requireBed();
  const faults = bed.faultLog.records.length;
  // Judged once per set of faults: a later step after no new fault has nothing new to prove.
  if (world.memo.get('resumedAfterFaults') === faults) return;
  const since = Math.max(0, ...bed.faultLog.records.filter((r) => Number.isFinite(r.injectedAt)).map((r) => r.healedAt ?? r.injectedAt));
  try {
    await bed.waitForEvent(filled, { after: since, timeoutMs: 15_000, what: 'an order filled after the last fault' });
    world.recordInvariant({ name: 'trading-resumed', status: 'pass', details: 'an order was filled after the last fault' });
    world.memo.set('resumedAfterFaults', faults);
  } catch (e) {
    world.recordInvariant({ name: 'trading-resumed', status: 'fail', details: 'no order was filled within 15 s after the last fault' });
    throw new Error('trading did not resume: no order was filled within 15 s after the last fault', { cause: e });
  }
}

Given('the EA runtime is running without a workload', async function (this: ChaosWorld) {
  await this.startBed({ instances: 1, ordersPerSecond: 0 });
});

When('the workload runs for {float} s', async function (this: ChaosWorld, s: number) {
  await new Promise((r) => setTimeout(r, s * 1000));
});

/** §1 objectives, checked against the broker's ledger once orders in flight have settled. */
Then('no order was lost or duplicated', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  await tradingResumed(this);
  // Judge one end state: quiesce stops the workload and waits until no order is in flight.
  await quiesce(bed);
  // The report's own pure checkers, over what the runtimes and the broker say now.
  const outcomes = await readOutcomes(bed);
  const dup = checkOrdersDuplicated(outcomes);
  const lost = checkOrdersLost(outcomes);
  this.recordInvariant(dup);
  this.recordInvariant(lost);
  if (dup.status === 'fail') throw new Error(failure(dup));
  if (lost.status === 'fail') throw new Error(failure(lost));
  if (lost.status === 'unknown') this.notes.push(`${lost.name}: unknown (${lost.details})`);
});

Then('no trade is orphaned', async function (this: ChaosWorld) {
  await tradingResumed(this);
  await quiesce(this.requireBed());
  const r = checkOrphanedPositions(await readOutcomes(this.requireBed()));
  this.recordInvariant(r);
  if (r.status === 'fail') throw new Error(failure(r));
});

Then('the EA is ready again', async function (this: ChaosWorld) {
  const f = this.lastFault;
  await this.requireBed().waitForEvent((e) => e.type === 'runtime.ready', { after: f?.injectedAt ?? 0, timeoutMs: 15_000, what: 'runtime.ready' });
});

/** For scenarios that end with the EA stopped: nothing settles its orders, but nothing may be sent twice. */
Then('no order was duplicated', async function (this: ChaosWorld) {
  const r = checkOrdersDuplicated(await readOutcomes(this.requireBed()));
  this.recordInvariant(r);
  if (r.status === 'fail') throw new Error(failure(r));
});
