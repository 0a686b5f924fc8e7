import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Given, Then, When } from '@cucumber/cucumber';
import { waitFor } from '../../core/wait.ts';
import { checkInstanceIsolation, type InstanceView } from '../../harness/checkers/isolation.ts';
import type { ActiveFault } from '../../harness/nemesis.ts';
import type { CollectedEvent } from '../../harness/testbed/event-collector.ts';
import type { AofRestore } from '../../lab/redis.ts';
import { redisCommand, respPairs, type RespValue } from '../../lab/resp.ts';
import type { Endpoint } from '../../lab/types.ts';
import type { ChaosWorld, RecoverySample } from '../support/world.ts';

/**
 * Redis State steps (seed §3.3, §3.1 steps 4-5). What they assert is read from
 * the runtimes' events, from the Redis servers themselves (RESP, not through the
 * runtime) and from the lab's own record of what it restored; none is assumed.
 */

const filled = (e: { type: string; data?: Record<string, unknown> }) => e.type === 'order.state' && e.data?.to === 'filled';
const sourceOf = (i: number) => `ea-${i}`;

function instances(world: ChaosWorld): number {
  return world.requireBed().supervisor?.status().length ?? 0;
}

async function masterNow(world: ChaosWorld): Promise<Endpoint> {
  return (await world.requireBed().lab.status()).redis.master;
}

async function cmd(ep: Endpoint, args: string[]): Promise<RespValue> {
  const r = await redisCommand(ep.host, ep.port, args, 2000);
  if (r instanceof Error) throw r;
  return r;
}

/** `INFO` text as fields. */
function infoFields(text: string): Record<string, string> {
  return Object.fromEntries(text.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}

let probes = 0;

/** A key only the harness writes: the runtimes never touch it, so its presence after a restart is the server's own recovery. */
async function writeProbe(world: ChaosWorld, name: string): Promise<string> {
  const token = `${name}-${Date.now()}-${++probes}`;
  await cmd(await masterNow(world), ['SET', `ea:probe:${name}`, token]);
  world.memo.set(`probe:${name}`, token);
  return token;
}

async function readProbe(world: ChaosWorld, name: string): Promise<string | null> {
  return (await cmd(await masterNow(world), ['GET', `ea:probe:${name}`])) as string | null;
}

function recordSample(world: ChaosWorld, s: Omit<RecoverySample, 'fault'>, boundMs: number): void {
  world.recordRecovery({ ...s, ...(world.lastFault ? { fault: world.lastFault.id } : {}) });
  if (s.ms > boundMs) throw new Error(`${s.component}: ${s.from} -> ${s.to} took ${s.ms} ms, over the ${boundMs} ms bound`);
}

/** The first event of instance `i` matching `pred` after `from`, recorded as a recovery sample. */
async function measureInstance(world: ChaosWorld, i: number, o: { from: number; fromLabel: string; boundMs: number; goalMs: number; what: string; pred: (e: CollectedEvent) => boolean }): Promise<CollectedEvent> {
  const bed = world.requireBed();
  const e = await bed.waitForEvent((ev) => ev.source === sourceOf(i) && o.pred(ev), { after: o.from, timeoutMs: Math.max(o.boundMs * 4, 15_000), what: `${sourceOf(i)}: ${o.what}` });
  recordSample(world, { component: 'Redis State', goalMs: o.goalMs, ms: e.ts - o.from, scaled: false, from: o.fromLabel, to: `${e.source} ${e.type}` }, o.boundMs);
  return e;
}

// ---------- Given ----------

Given('{int} EA instances are trading', async function (this: ChaosWorld, n: number) {
  const bed = await this.startBed({ instances: n, ordersPerSecond: 5 });
  // Every instance has an order stream before the fault, not only the first one up.
  await waitFor(
    () => (Array.from({ length: n }, (_, i) => bed.events().filter((e) => e.source === sourceOf(i) && filled(e)).length >= 2).every(Boolean) ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 20, what: `2 filled orders on each of ${n} instances` },
  );
  this.memo.set('workload', true);
});

/**
 * Seed §3.3 tuning "RDB snapshot frequency → Daily": the lab saves once a day
 * (`save 86400 1`), so the step takes that day's snapshot now (BGSAVE), with a
 * probe key written before it and another after it.
 */
Given('Redis has taken its daily RDB snapshot', async function (this: ChaosWorld) {
  await writeProbe(this, 'before-snapshot');
  const master = await masterNow(this);
  const saves = async () => infoFields(String(await cmd(master, ['INFO', 'persistence'])));
  const before = Number((await saves()).rdb_saves);
  await cmd(master, ['BGSAVE']);
  await waitFor(
    async () => {
      const p = await saves();
      if (p.rdb_bgsave_in_progress !== '0' || !(Number(p.rdb_saves) > before)) return undefined;
      if (p.rdb_last_bgsave_status !== 'ok') throw new Error(`BGSAVE failed: ${p.rdb_last_bgsave_status}`);
      return true;
    },
    { timeoutMs: 10_000, intervalMs: 20, what: 'the RDB snapshot to be written' },
  );
  await writeProbe(this, 'after-snapshot');
});

// ---------- When ----------

When('the Redis replica and then the master are killed, and Redis stays down for {float} s', async function (this: ChaosWorld, s: number) {
  const replica = await this.inject({ kind: 'process.kill', target: 'redis-replica', measure: [] });
  // Nothing is left to promote: recovery can only start when Redis is back (seed §3.3 step 6).
  const master = await this.inject({ kind: 'process.kill', target: 'redis-master', reference: 'heal' });
  await new Promise((r) => setTimeout(r, this.scaled(s * 1000)));
  // The master first: a replica back before it could be promoted over the data the master holds.
  await master.heal();
  await replica.heal();
});

When('every Redis server crashes and is restarted', async function (this: ChaosWorld) {
  await writeProbe(this, 'before-crash');
  const replica = await this.inject({ kind: 'process.kill', target: 'redis-replica', measure: [] });
  const master = await this.inject({ kind: 'process.kill', target: 'redis-master', reference: 'heal' });
  const bed = this.requireBed();
  const svc = master.record.target;
  const log = join(bed.lab.dir, svc, 'redis.log');
  this.memo.set('restart', { service: svc, log, logFrom: existsSync(log) ? statSync(log).size : 0, startedAt: Date.now() });
  await master.heal();
  this.memo.set('restartReadyAt', master.record.healedAt);
  await replica.heal();
});

When("Redis's AOF is corrupted and Redis restarts", async function (this: ChaosWorld) {
  await this.inject({ kind: 'file.corrupt', target: 'redis-aof', params: { file: { mode: 'garbage', restart: true } } });
});

When('the EA is partitioned from the Redis master for {float} s', async function (this: ChaosWorld, s: number) {
  this.memo.set('masterBefore', await masterNow(this));
  const active: ActiveFault = await this.inject({ kind: 'network.down', target: 'redis-master' });
  await new Promise((r) => setTimeout(r, this.scaled(s * 1000)));
  await active.heal();
});

// ---------- Then ----------

Then('every EA instance is writing to the new master within {float} s', async function (this: ChaosWorld, s: number) {
  const f = this.lastFault!;
  const n = instances(this);
  const goalMs = this.goal('redisStateMs');
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      measureInstance(this, i, { from: f.injectedAt, fromLabel: `${f.kind} ${f.target}`, boundMs: s * 1000, goalMs, what: 'redis.master_changed', pred: (e) => e.type === 'redis.master_changed' }),
    ),
  );
  // The event says the client moved; the new master itself must hold each instance's writes made after the kill.
  const master = await masterNow(this);
  const before = this.requireBed().lab.info.redis.master;
  if (master.port === before.port) throw new Error(`Sentinel still reports the killed master ${before.host}:${before.port}`);
  await waitFor(
    async () => {
      const ris = respPairs(await cmd(master, ['HGETALL', 'ea:ris']));
      const late = Array.from({ length: n }, (_, i) => sourceOf(i)).filter((id) => {
        const hb = ris[id] ? (JSON.parse(ris[id]) as { heartbeatAt?: number }).heartbeatAt : undefined;
        return !(typeof hb === 'number' && hb > f.injectedAt);
      });
      return late.length === 0 ? true : undefined;
    },
    { timeoutMs: 8000, intervalMs: 50, what: `a heartbeat from each of ${n} instances on the new master ${master.host}:${master.port}` },
  );
});

Then("no instance placed or reconciled another instance's orders", async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const n = instances(this);
  const views: InstanceView[] = [];
  for (let i = 0; i < n; i++) {
    const st = await bed.getJson<{ orders?: { clientId: string }[]; positions?: { magic?: number }[] }>(`${bed.runtimeUrl(i)}/state?orders=1`);
    const touched = bed
      .events()
      .filter((e) => e.source === sourceOf(i) && (e.type === 'order.state' || e.type.startsWith('reconcile.')) && typeof e.data?.clientId === 'string')
      .map((e) => e.data!.clientId as string);
    views.push({ instance: sourceOf(i), magic: bed.magicFor(i), orders: (st.orders ?? []).map((o) => o.clientId), touched, positionMagics: (st.positions ?? []).map((p) => p.magic).filter((m): m is number => typeof m === 'number') });
  }
  let deals: { comment?: string; magic: number; ticket: number }[] | null = null;
  try {
    deals = (await bed.getJson<{ deals: { comment?: string; magic: number; ticket: number }[] }>(bed.brokerAdmin('/ledger'))).deals;
  } catch {
    deals = null;
  }
  const r = checkInstanceIsolation(views, deals);
  this.recordInvariant({ name: 'instance-isolation', status: r.status, details: r.details });
  if (r.status !== 'pass') throw new Error(`instance isolation ${r.status}: ${r.details}; e.g. ${JSON.stringify(r.counterexamples.slice(0, 3))}`);
});

Then('trade state is kept in DuckDB while Redis is down', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const down = await bed.waitForEvent((e) => e.type === 'redis.down', { after: f.injectedAt, timeoutMs: 15_000, what: 'redis.down' });
  const until = f.healedAt ?? Date.now();
  // An order change committed while no Redis could take it: DuckDB held it (the runtime commits there first).
  const during = bed.events().filter((e) => e.type === 'order.state' && e.ts > down.ts && e.ts < until);
  if (during.length === 0) throw new Error(`no order changed state between redis.down and Redis coming back (${until - down.ts} ms): nothing shows trade state was kept`);
  this.memo.set('duringOutage', during.map((e) => e.data?.clientId).filter((x): x is string => typeof x === 'string'));
  this.attach(`${during.length} order changes committed to DuckDB while Redis was down`, 'text/plain');
});

/** Every order the runtimes hold (DuckDB's content) is in Redis, in the same state; waited for within the sync deadline. */
Then('Redis holds the same orders as DuckDB', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const n = instances(this);
  const deadline = 5000 + this.scaled(this.config.trade.maxClickhouseSyncDelayMs);
  let last = '';
  await waitFor(
    async () => {
      const master = await masterNow(this);
      const diffs: string[] = [];
      let total = 0;
      for (let i = 0; i < n; i++) {
        const st = await bed.getJson<{ orders?: { clientId: string; state: string }[] }>(`${bed.runtimeUrl(i)}/state?orders=1`);
        const h = respPairs(await cmd(master, ['HGETALL', `ea:rts:${sourceOf(i)}:orders`]));
        for (const o of st.orders ?? []) {
          total++;
          const v = h[o.clientId];
          const state = v ? (JSON.parse(JSON.parse(v).data as string) as { state?: string }).state : undefined;
          if (state !== o.state) diffs.push(`${o.clientId}: DuckDB ${o.state}, Redis ${state ?? 'missing'}`);
        }
      }
      if (total === 0) throw new Error('the runtimes hold no orders: nothing to compare');
      last = `${diffs.length} of ${total} differ, e.g. ${diffs.slice(0, 3).join('; ')}`;
      return diffs.length === 0 ? total : undefined;
    },
    { timeoutMs: deadline, intervalMs: 100, what: 'Redis to hold the same orders as DuckDB' },
  ).catch((e: unknown) => {
    throw new Error(`Redis and DuckDB disagree: ${last}`, { cause: e });
  });
  const outage = (this.memo.get('duringOutage') as string[] | undefined) ?? [];
  if (outage.length > 0) this.attach(`including ${new Set(outage).size} orders changed while Redis was down`, 'text/plain');
});

Then('the Redis master recovers its state from the AOF within {float} s', async function (this: ChaosWorld, s: number) {
  const r = this.memo.get('restart') as { service: string; log: string; logFrom: number; startedAt: number } | undefined;
  const readyAt = this.memo.get('restartReadyAt') as number | undefined;
  if (!r || !readyAt) throw new Error('no Redis restart was recorded');
  const log = readFileSync(r.log, 'utf8').slice(r.logFrom);
  // Redis's own account of where the data came from, and how long loading took.
  const loaded = /DB loaded from append only file: ([\d.]+) seconds/.exec(log);
  if (!loaded) throw new Error(`${r.service} did not load its AOF on restart (no "DB loaded from append only file" in ${r.log})`);
  recordSample(this, { component: 'Redis State', goalMs: this.config.redis.aofRecoveryMs, ms: readyAt - r.startedAt, scaled: false, from: `restart of ${r.service}`, to: `PING answered after the AOF load (Redis: ${loaded[1]} s)` }, s * 1000);
  const token = this.memo.get('probe:before-crash');
  const got = await readProbe(this, 'before-crash');
  if (got !== token) throw new Error(`a key written before the crash came back as ${JSON.stringify(got)}, expected ${JSON.stringify(token)}`);
});

Then('the EA finds its Redis state intact', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const n = instances(this);
  for (let i = 0; i < n; i++) {
    // The runtime's marker key survived: it resyncs (redis.resynced); a lost data set is redis.rebuilt.
    const e = await bed.waitForEvent((ev) => ev.source === sourceOf(i) && (ev.type === 'redis.resynced' || ev.type === 'redis.rebuilt'), { after: f.healedAt ?? f.injectedAt, timeoutMs: 15_000, what: `${sourceOf(i)} resync` });
    if (e.type === 'redis.rebuilt') throw new Error(`${sourceOf(i)} found its Redis data gone after the restart (redis.rebuilt)`);
  }
});

Then('Redis is restored from its last RDB snapshot and resynced from DuckDB within {float} s', async function (this: ChaosWorld, s: number) {
  const f = this.lastFault!;
  const restore = f.params?.restore as AofRestore | null | undefined;
  if (!restore) throw new Error(`the lab did not restore ${String(f.params?.service)} (its AOF was loaded or not refused): ${JSON.stringify(f.params)}`);
  if (restore.reason !== 'corrupt-aof') throw new Error(`restore reason ${restore.reason}, expected corrupt-aof`);
  if (!restore.rdb) throw new Error('no RDB snapshot was there to restore from');
  if (!restore.quarantined || !existsSync(restore.quarantined)) throw new Error(`the refused AOF was not kept aside (${String(restore.quarantined)})`);
  // The snapshot's content is back, and nothing the corrupt AOF alone held: the data came from the RDB.
  const before = await readProbe(this, 'before-snapshot');
  if (before !== this.memo.get('probe:before-snapshot')) throw new Error(`a key saved in the snapshot came back as ${JSON.stringify(before)}`);
  const after = await readProbe(this, 'after-snapshot');
  if (after !== null) throw new Error(`a key written after the snapshot survived (${after}): Redis did not start from the RDB`);
  const n = instances(this);
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      measureInstance(this, i, {
        from: f.injectedAt,
        fromLabel: 'crash of every Redis node with a corrupt AOF',
        boundMs: s * 1000,
        goalMs: this.goal('redisStateMs'),
        what: 'redis.resynced or redis.rebuilt from DuckDB',
        pred: (e) => e.type === 'redis.resynced' || e.type === 'redis.rebuilt',
      }),
    ),
  );
  this.attach(`restored from ${restore.rdb} (written ${restore.rdbWrittenAt}); corrupt AOF kept at ${restore.quarantined}; redis-check-aof: ${restore.check}`, 'text/plain');
});

Then('after {int} failed attempts the runtime falls back to ClickHouse state', async function (this: ChaosWorld, attempts: number) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  if (attempts !== this.config.trade.redisFallbackThreshold) throw new Error(`the step says ${attempts} attempts, the config's redisFallbackThreshold is ${this.config.trade.redisFallbackThreshold}`);
  const down = await bed.waitForEvent((e) => e.type === 'redis.down', { after: f.injectedAt, timeoutMs: 15_000, what: 'redis.down' });
  const engaged = await bed.waitForEvent((e) => e.type === 'redis.fallback_engaged', { after: down.ts, timeoutMs: 15_000, what: 'redis.fallback_engaged' });
  if (f.healedAt !== undefined && engaged.ts > f.healedAt) throw new Error('the fallback engaged only after Redis was back');
  if (Number(engaged.data?.attempts) < attempts) throw new Error(`the fallback engaged after ${String(engaged.data?.attempts)} attempts, before the threshold of ${attempts}`);
  // Attempts are spaced by the (scaled) retry interval: ten of them cannot fit in less than nine intervals.
  const retryMs = this.scaled(this.config.trade.redisRetryMs);
  if (engaged.ts - down.ts < (attempts - 1) * retryMs * 0.9) throw new Error(`the fallback engaged ${engaged.ts - down.ts} ms after redis.down, less than ${attempts - 1} retry intervals of ${retryMs} ms`);
  const read = await bed.waitForEvent((e) => e.type === 'state.read_from_clickhouse', { after: engaged.ts, timeoutMs: 15_000, what: 'state.read_from_clickhouse' });
  if (read.data?.ok !== true) throw new Error('the runtime could not read its state from ClickHouse');
  if (!(Number(read.data?.orders) > 0)) throw new Error('the runtime read no orders from ClickHouse: nothing shows the fallback read state');
  this.attach(`fallback after ${String(engaged.data?.attempts)} attempts (${engaged.ts - down.ts} ms); read ${String(read.data?.orders)} orders from ClickHouse, merged ${String(read.data?.merged)}`, 'text/plain');
});

Then('the EA did not take the replica for a master', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const before = this.memo.get('masterBefore') as Endpoint | undefined;
  const now = await masterNow(this);
  // Sentinel still sees the master: nothing may fail over, and no runtime may follow the replica.
  if (before && now.port !== before.port) throw new Error(`the master moved from ${before.port} to ${now.port} during a partition of the EA only`);
  const moved = bed.events().filter((e) => e.type === 'redis.master_changed' && e.ts >= f.injectedAt);
  if (moved.length > 0) throw new Error(`${moved.length} runtime(s) switched master during the partition: ${JSON.stringify(moved[0]?.data)}`);
  await bed.waitForEvent((e) => e.type === 'redis.down', { after: f.injectedAt, timeoutMs: 15_000, what: 'redis.down (the partition was felt)' });
});
