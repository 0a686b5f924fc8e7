import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Given, Then, When } from '@cucumber/cucumber';
import { applyTimeScale } from '../../core/config/index.ts';
import { waitFor } from '../../core/wait.ts';
import { checkCrossStore, checkOrdersDuplicated, checkOrdersLost, checkOrphanedPositions, type CheckResult } from '../../harness/checkers/checkers.ts';
import { parseHistory } from '../../harness/history/index.ts';
import type { CollectedEvent } from '../../harness/testbed/event-collector.ts';
import type { ChaosWorld } from '../support/world.ts';

/**
 * Trade, DuckDB, ClickHouse and config steps that need more than the nemesis's
 * one-shot faults: faults held until the runtime reaches a state (an order parked
 * in failed_syncs), a real second process holding DuckDB's file lock, damage to
 * two files at once, and judgements over the sequence of runtime events.
 */

type Ev = CollectedEvent;
const filled = (e: Ev) => e.type === 'order.state' && (e.data?.to === 'filled' || e.data?.to === 'reconciled');
const of = (id: unknown) => (e: Ev) => e.data?.clientId === id;

/** The policy numbers the runtime runs with: the seed's, compressed by the run's time scale. */
function effective(world: ChaosWorld) {
  return applyTimeScale(world.config);
}

function held(world: ChaosWorld): { heal(): Promise<void> } {
  const a = world.memo.get('held') as { heal(): Promise<void> } | undefined;
  if (!a) throw new Error('no fault is being held');
  return a;
}

function failure(r: CheckResult): string {
  return `${r.name}: ${r.details}; e.g. ${JSON.stringify(r.counterexamples.slice(0, 3))}`;
}

/**
 * Kill the EA while it trades. The runtime announces `persisted` (what the checkers
 * count as acceptance) only once the intent's commit is durable, so a kill that lands
 * inside a commit loses nothing anyone was told about, and one that lands after it
 * must find the order again after the restart.
 */
async function killWhileTrading(world: ChaosWorld, opts: { measure?: [] } = {}): Promise<{ injectedAt: number; resume(): Promise<void> }> {
  const bed = world.requireBed();
  const pid = bed.supervisor!.status()[0]!.pid!;
  world.memo.set('pid', pid);
  const kill = await world.inject({ kind: 'process.kill', target: 'runtime:0', ...(opts.measure ? { measure: opts.measure } : {}) });
  return {
    injectedAt: kill.record.injectedAt,
    resume: async () => {
      await bed.supervisor!.waitReady(0, { notPid: pid, timeoutMs: 15_000 });
    },
  };
}

// ---- Trade Execution (§3.1 steps 1-2, §2.1 failover) ----

Given('the EA runtime is trading with a backup broker access point', async function (this: ChaosWorld) {
  const bed = await this.startBed({ instances: 1, ordersPerSecond: 10, brokerBackup: true });
  await waitFor(() => (bed.events().filter(filled).length >= 3 ? true : undefined), { timeoutMs: 20_000, intervalMs: 10, what: '3 filled orders' });
  this.memo.set('workload', true);
});

When('the broker refuses every order as off quotes until an order has had {int} failed_syncs rounds', async function (this: ChaosWorld, rounds: number) {
  const bed = this.requireBed();
  const active = await this.inject({ kind: 'broker.knob', target: 'broker', params: { offQuotesRate: 1 } });
  this.memo.set('held', active);
  const f = active.record;
  const e = this.config;
  const budget = (e.trade.backoffMs.reduce((a, b) => a + b, 0) + e.trade.failedSyncRetryMs * (rounds + 1)) * e.timeScale + 15_000;
  // The round's send must have been refused too: the order.state after the round's event.
  const round = await bed.waitForEvent((x) => x.type === 'order.failed_sync_retry' && Number(x.data?.attempt) >= rounds, { after: f.injectedAt, timeoutMs: budget, what: `an order's failed_syncs round ${rounds}` });
  const id = round.data?.clientId;
  await bed.waitForEvent((x) => of(id)(x) && x.type === 'order.state' && x.data?.to === 'retrying', { after: round.ts, timeoutMs: 5000, what: `round ${rounds} of ${String(id)} refused` });
  this.memo.set('parkedOrder', id);
  await active.heal();
});

Then("the order was saved in DuckDB's failed_syncs table after {int} failed attempts", function (this: ChaosWorld, n: number) {
  const id = this.memo.get('parkedOrder');
  const mine = this.requireBed().events().filter(of(id));
  const parked = mine.find((e) => e.type === 'order.parked');
  if (!parked) throw new Error(`order ${String(id)} was never parked in failed_syncs`);
  // order.parked is emitted only after the failed_syncs row is committed to DuckDB.
  const sendsBefore = mine.filter((e) => e.type === 'order.state' && e.data?.to === 'submitted' && e.ts <= parked.ts).length;
  if (sendsBefore !== n + 1) throw new Error(`order ${String(id)} was parked after ${sendsBefore} sends, expected 1 + ${n} retries`);
  const retries = mine.filter((e) => e.type === 'order.retry').map((e) => Number(e.data?.attempt));
  if (retries.join(',') !== Array.from({ length: n }, (_, i) => i + 1).join(',')) throw new Error(`backoff retries were ${retries.join(',')}`);
});

Then("its sends were spaced by the seed's backoff, then by the failed_syncs period, within {int}%", function (this: ChaosWorld, pct: number) {
  const id = this.memo.get('parkedOrder');
  const mine = this.requireBed().events().filter(of(id));
  const sends = mine.filter((e) => e.type === 'order.state' && e.data?.to === 'submitted').map((e) => e.ts);
  const eff = effective(this);
  const backoff = eff.trade.backoffMs;
  const period = eff.trade.failedSyncRetryMs;
  if (sends.length < backoff.length + 2) throw new Error(`only ${sends.length} sends seen for ${String(id)}`);
  // Late by the event loop and one refused round trip; the absolute slack covers a loaded
  // 2-core machine at compressed scale, where 5% of 50 ms is under a timer tick.
  const late = (want: number) => want * (1 + pct / 100) + 60;
  // Backoff: each wait starts when the refusal arrives, so send to send is at least the delay.
  const steps = backoff.map((want, i) => ({ what: `backoff ${i + 1}`, o: sends[i + 1]! - sends[i]!, want }));
  // Rounds are due every period from the last backoff refusal (the schedule is kept on due
  // times); each send follows its failed_syncs row commit, whose latency must not shift the next.
  const parked = mine.find((e) => e.type === 'order.parked');
  if (!parked) throw new Error(`order ${String(id)} was never parked`);
  // Events of one order are in emission order; the refusal that exhausted the backoff is the last before the park.
  const lastRefusal = mine.slice(0, mine.indexOf(parked)).filter((e) => e.type === 'order.state' && e.data?.to === 'retrying').at(-1)!.ts;
  const rounds = sends.slice(backoff.length + 1).map((t, k) => ({ what: `round ${k + 1}`, o: t - lastRefusal, want: (k + 1) * period }));
  const all = [...steps, ...rounds];
  const bad = all.filter(({ o, want }) => o < want - 5 || o > late(want));
  this.attach(`backoff sends ${steps.map((x) => x.o).join(', ')} ms apart (want ${backoff.join(', ')}); rounds at ${rounds.map((x) => x.o).join(', ')} ms after the last backoff refusal (want ${rounds.map((x) => x.want).join(', ')})`, 'text/plain');
  if (bad.length > 0) throw new Error(`sends off the seed's schedule: ${JSON.stringify(bad)}`);
});

Then('the parked order is confirmed within one failed_syncs period of the broker accepting again', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const id = this.memo.get('parkedOrder');
  const f = this.lastFault!;
  const period = effective(this).trade.failedSyncRetryMs;
  const e = await bed.waitForEvent((x) => of(id)(x) && filled(x), { after: f.healedAt ?? f.injectedAt, timeoutMs: period + 10_000, what: `parked order ${String(id)} confirmed` });
  const ms = e.ts - (f.healedAt ?? f.injectedAt);
  this.attach(`parked order confirmed ${ms} ms after the broker accepted again (period ${period} ms)`, 'text/plain');
  if (ms > period + 500) throw new Error(`the parked order was confirmed ${ms} ms after the broker accepted again, over the ${period} ms period`);
});

When('the EA is killed while an order is parked in failed_syncs', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const active = await this.inject({ kind: 'broker.knob', target: 'broker', params: { offQuotesRate: 1 } });
  this.memo.set('held', active);
  const c = this.config;
  const parked = await bed.waitForEvent((x) => x.type === 'order.parked', { after: active.record.injectedAt, timeoutMs: c.trade.backoffMs.reduce((a, b) => a + b, 0) * c.timeScale + 15_000, what: 'an order parked in failed_syncs' });
  this.memo.set('parkedOrder', parked.data?.clientId);
  const kill = await killWhileTrading(this);
  this.memo.set('killedAt', kill.injectedAt);
  await kill.resume();
});

Then('after the restart the order resumes its failed_syncs rounds instead of restarting its backoff', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const id = this.memo.get('parkedOrder');
  const at = this.memo.get('killedAt') as number;
  await bed.supervisor!.waitReady(0, { notPid: this.memo.get('pid') as number, timeoutMs: 15_000 });
  const resumed = await bed.waitForEvent((x) => of(id)(x) && x.type === 'order.failed_sync_resumed', { after: at, timeoutMs: 10_000, what: `order ${String(id)} resuming its failed_syncs rounds` });
  const restarted = bed.events().filter((x) => x.ts >= at && of(id)(x) && x.type === 'order.retry');
  if (restarted.length > 0) throw new Error(`order ${String(id)} restarted its backoff after the restart (${restarted.length} order.retry events)`);
  this.attach(`resumed after ${String(resumed.data?.attempts)} rounds, next due in ${String(resumed.data?.dueInMs)} ms`, 'text/plain');
});

When('the broker accepts orders again', async function (this: ChaosWorld) {
  await held(this).heal();
});

When('the primary broker access point is down', async function (this: ChaosWorld) {
  const active = await this.inject({ kind: 'network.down', target: 'broker' });
  this.memo.set('held', active);
});

Then('orders are confirmed through the backup access point within {float} s', async function (this: ChaosWorld, s: number) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const over = await bed.waitForEvent((e) => e.type === 'broker.failover', { after: f.injectedAt, timeoutMs: 15_000, what: 'the runtime failing over to the backup access point' });
  if (over.data?.to !== 'backup-1') throw new Error(`failed over to ${String(over.data?.to)}, expected backup-1`);
  const e = await bed.waitForEvent((x) => x.ts >= over.ts && filled(x), { after: f.injectedAt, timeoutMs: 15_000, what: 'an order confirmed after the failover' });
  const ms = e.ts - f.injectedAt;
  this.recordRecovery({ component: 'Trade Execution', goalMs: this.goal('tradeExecutionMs'), ms, scaled: false, fault: f.id, from: 'primary access point down', to: `${e.source} ${e.type} via backup-1` });
  if (ms > s * 1000) throw new Error(`orders were confirmed through the backup ${ms} ms after the primary went down, over ${s * 1000} ms`);
});

When('the primary broker access point comes back', async function (this: ChaosWorld) {
  await held(this).heal();
});

Then('the EA returns to the primary access point and trades there', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const back = await bed.waitForEvent((e) => e.type === 'broker.failback', { after: f.healedAt ?? f.injectedAt, timeoutMs: 15_000, what: 'the runtime back on the primary access point' });
  await bed.waitForEvent((x) => x.ts >= back.ts && filled(x), { timeoutMs: 15_000, what: 'an order confirmed on the primary after the failback' });
});

// ---- DuckDB (§3.4) ----

When('another process holds the DuckDB file lock while the EA restarts', async function (this: ChaosWorld) {
  // A nemesis fault, so the schedule (and `ea-chaos replay`) carries it: a second process polls
  // for the file's lock and takes it the moment the killed runtime's lock is gone, well before
  // the supervisor's restart gets to the file. Its recovery (lock released → DuckDB open) is
  // measured from the heal, which the release step does.
  const lock = await this.inject({ kind: 'file.lock', target: 'duckdb-db:0' });
  this.memo.set('lock', lock);
  const kill = await killWhileTrading(this, { measure: [] });
  this.memo.set('resumeQuotes', kill.resume);
  // The lock fault was the last one before the kill: the later steps time from it.
  this.lastFault = lock.record;
  await waitFor(
    () => (lock.record.params?.['lockedAt'] !== undefined ? true : undefined),
    { timeoutMs: 12_000, intervalMs: 2, what: 'the second process holding the DuckDB lock' },
  );
});

Then('the EA reports the locked file clearly and retries at most {int} times', async function (this: ChaosWorld, max: number) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const e = await bed.waitForEvent((x) => x.type === 'duckdb.locked', { after: f.injectedAt, timeoutMs: 15_000, what: 'duckdb.locked' });
  if (Number(e.data?.max) !== this.config.duckdb.lockMaxAttempts || Number(e.data?.max) > max) throw new Error(`lock retries bounded at ${String(e.data?.max)}, expected ${this.config.duckdb.lockMaxAttempts} <= ${max}`);
  // A few retries seen, so the lock really blocked the restarted runtime.
  await bed.waitForEvent((x) => x.type === 'duckdb.locked' && Number(x.data?.attempt) >= 3, { after: f.injectedAt, timeoutMs: 15_000, what: 'a third lock retry' });
});

When('the other process releases the lock', async function (this: ChaosWorld) {
  const lock = this.memo.get('lock') as { heal(): Promise<void>; record: { healedAt?: number } };
  await lock.heal();
  this.memo.set('releasedAt', lock.record.healedAt ?? Date.now());
});

Then('the EA is ready within {float} s of the lock being released, without a restart loop', async function (this: ChaosWorld, s: number) {
  const bed = this.requireBed();
  const at = this.memo.get('releasedAt') as number;
  const f = this.lastFault!;
  const ready = await bed.waitForEvent((e) => e.type === 'runtime.ready', { after: f.injectedAt, timeoutMs: 15_000, what: 'runtime.ready after the lock was released' });
  const ms = Math.max(0, ready.ts - at);
  this.recordRecovery({ component: 'DuckDB', goalMs: this.goal('duckdbMs'), ms, scaled: false, fault: f.id, from: 'lock released', to: `${ready.source} runtime.ready` });
  if (ms > s * 1000) throw new Error(`ready ${ms} ms after the lock was released, over ${s * 1000} ms`);
  // One restart answered the kill; the lock wait happened inside it, not as a crash loop.
  const exits = bed.events().filter((e) => e.source === 'supervisor' && e.ts >= f.injectedAt && e.type === 'process.exited');
  if (exits.length > 1) throw new Error(`the runtime exited ${exits.length} times after the kill: a restart loop`);
  await (this.memo.get('resumeQuotes') as () => Promise<void>)();
});

When('the DuckDB database file and its backup are both corrupted and the EA restarts', async function (this: ChaosWorld) {
  await this.inject({ kind: 'file.corrupt', target: 'duckdb-db', params: { file: { mode: 'header', withBackup: true } } });
});

Then('DuckDB is recreated from the Redis and ClickHouse state', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const files = (f.params?.files as string[] | undefined) ?? [];
  if (files.length < 2) throw new Error(`only ${files.join(', ')} existed to corrupt: the backup was never written`);
  await bed.waitForEvent((e) => e.type === 'duckdb.rebuild_needed', { after: f.injectedAt, timeoutMs: 15_000, what: 'duckdb.rebuild_needed (database and backup both unusable)' });
  const rebuilt = await bed.waitForEvent((e) => e.type === 'duckdb.rebuilt', { after: f.injectedAt, timeoutMs: 15_000, what: 'duckdb.rebuilt from Redis/ClickHouse' });
  this.attach(`rebuilt ${String(rebuilt.data?.orders)} orders from ${String(rebuilt.data?.from)}`, 'text/plain');
  const ready = await bed.waitForEvent((e) => e.type === 'runtime.ready', { after: f.injectedAt, timeoutMs: 15_000, what: 'runtime.ready after the rebuild' });
  this.recordRecovery({ component: 'DuckDB', goalMs: this.goal('duckdbMs'), ms: ready.ts - f.injectedAt, scaled: false, fault: f.id, from: 'file.corrupt duckdb-db with its backup + SIGKILL', to: `${ready.source} runtime.ready` });
});

// ---- ClickHouse Sync (§3.5) ----

When('ClickHouse connections are reset for {float} s', async function (this: ChaosWorld, s: number) {
  const active = await this.inject({ kind: 'network.toxic', target: 'clickhouse', params: { type: 'reset_peer', attributes: { timeout: 0 }, stream: 'upstream' } });
  await new Promise((r) => setTimeout(r, this.scaled(s * 1000)));
  await active.heal();
});

Then("the failed sync followed the seed's sequence: retried every 5 s up to 3 times, parked in failed_syncs, drained on the health probe", async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const eff = effective(this);
  const ev = bed.events().filter((e) => e.ts >= f.injectedAt);
  const parked = ev.find((e) => e.type === 'sync.parked');
  if (!parked) throw new Error('no batch was parked in failed_syncs during the fault');
  // The retries of the batch that was parked: the last run of attempts 1..3 before it.
  const retries = ev.filter((e) => e.type === 'sync.retry' && e.ts <= parked.ts);
  const run: Ev[] = [];
  for (const r of retries) {
    if (Number(r.data?.attempt) === 1) run.length = 0;
    run.push(r);
  }
  const attempts = run.map((r) => Number(r.data?.attempt));
  if (attempts.join(',') !== Array.from({ length: eff.clickhouse.maxRetryAttempts }, (_, i) => i + 1).join(',')) {
    throw new Error(`the parked batch was retried with attempts ${attempts.join(',')}, expected 1..${eff.clickhouse.maxRetryAttempts}`);
  }
  // sync.retry is emitted as each wait starts: consecutive ones are one interval plus a failed insert apart.
  const gaps = [...run.slice(1).map((r, i) => r.ts - run[i]!.ts), parked.ts - run.at(-1)!.ts];
  const want = eff.clickhouse.retryIntervalMs;
  const off = gaps.filter((g) => g < want - 5 || g > want * 1.5 + 150);
  this.attach(`retry gaps ${gaps.join(', ')} ms (interval ${want} ms); drain period ${eff.clickhouse.failedSyncRetryMs} ms`, 'text/plain');
  if (off.length > 0) throw new Error(`retry gaps ${gaps.join(', ')} ms are not ${want} ms apart`);
  const up = await bed.waitForEvent((e) => e.type === 'clickhouse.up', { after: f.healedAt ?? f.injectedAt, timeoutMs: 15_000, what: 'clickhouse.up after the heal' });
  const drained = await bed.waitForEvent((e) => e.type === 'sync.drained', { after: parked.ts, timeoutMs: 15_000, what: 'sync.drained' });
  // Drained by the probe, not by the 30 s period: within one probe cycle of ClickHouse answering.
  if (drained.ts - up.ts > eff.clickhouse.healthProbeIntervalMs + 1000) throw new Error(`drained ${drained.ts - up.ts} ms after clickhouse.up: not on the health probe`);
});

// ---- Configuration Data (§2.1 "mismatch") ----

When('the EA config file is replaced by one that parses but does not match the schema and the EA restarts', async function (this: ChaosWorld) {
  await this.inject({ kind: 'file.corrupt', target: 'config', params: { file: { mode: 'mismatch' } } });
});

Then('the user was told which field did not match', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const e = await bed.waitForEvent((x) => x.type === 'config.restored', { after: f.injectedAt, timeoutMs: 15_000, what: 'config.restored' });
  const field = String(e.data?.field ?? '');
  if (!/magic|maxAttempts/.test(field) && !/magic|maxAttempts/.test(String(e.data?.error ?? ''))) throw new Error(`config.restored names ${field || 'no field'}: ${String(e.data?.error)}`);
  await waitFor(() => (bed.runtimeAlerts.some((a) => a.code === 'config.restored' && a.at >= f.injectedAt) ? true : undefined), { timeoutMs: 10_000, intervalMs: 10, what: 'a config.restored alert to the user' });
});

// ---- §1 objectives, all at once ----

When('the broker times out after executing {int}% of orders, ClickHouse is down and the EA is killed', async function (this: ChaosWorld, pct: number) {
  const bed = this.requireBed();
  const broker = await this.inject({ kind: 'broker.knob', target: 'broker', params: { timeoutAfterExecution: { rate: pct / 100, mode: 'drop' } } });
  const ch = await this.inject({ kind: 'process.stop', target: 'clickhouse' });
  const c = this.config;
  // Long enough for orders to end unknown and ClickHouse batches to be parked in failed_syncs.
  await bed.waitForEvent((e) => e.type === 'order.state' && e.data?.to === 'unknown', { after: broker.record.injectedAt, timeoutMs: 15_000, what: 'an order whose answer was lost' });
  await bed.waitForEvent((e) => e.type === 'sync.parked', { after: ch.record.injectedAt, timeoutMs: c.clickhouse.retryIntervalMs * (c.clickhouse.maxRetryAttempts + 2) * c.timeScale + 15_000, what: 'a ClickHouse batch parked' });
  const kill = await killWhileTrading(this);
  await kill.resume();
  await broker.heal();
  await ch.heal();
});

Then('every objective of the seed holds:', async function (this: ChaosWorld, table: { raw(): string[][] }) {
  const bed = this.requireBed();
  const wanted = table.raw().map((r) => r[0]!.trim());
  // Trading must have resumed, or "nothing lost" could hold only because nothing happened.
  const last = Math.max(...bed.faultLog.records.map((r) => r.healedAt ?? r.injectedAt));
  await bed.waitForEvent(filled, { after: last, timeoutMs: 15_000, what: 'an order filled after the faults' });
  await bed.waitForEvent((e) => e.type === 'sync.drained', { after: last - 60_000, timeoutMs: 15_000, what: 'the ClickHouse backlog drained' });
  await this.writeHistory();
  const h = parseHistory(JSON.parse(readFileSync(join(this.scenarioDir, 'history.json'), 'utf8')), 'history');
  const checks: Record<string, () => CheckResult> = {
    'no order loss': () => checkOrdersLost(h),
    'no duplicated order': () => checkOrdersDuplicated(h),
    'no orphaned trade': () => checkOrphanedPositions(h),
    'Redis, DuckDB and ClickHouse consistent': () => checkCrossStore(h),
  };
  const failures: string[] = [];
  for (const name of wanted) {
    const check = checks[name];
    if (!check) throw new Error(`unknown objective "${name}" (known: ${Object.keys(checks).join(', ')})`);
    const r = check();
    this.recordInvariant(r);
    this.attach(`${name}: ${r.status} (${r.details})`, 'text/plain');
    // An objective that cannot be judged is not met.
    if (r.status !== 'pass') failures.push(`${name}: ${failure(r)}`);
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
});
