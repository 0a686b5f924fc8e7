import { Given, Then, When } from '@cucumber/cucumber';
import { waitFor } from '../../core/wait.ts';
import type { CollectedEvent } from '../../harness/testbed/event-collector.ts';
import type { StreamTickKey } from '../../harness/history/index.ts';
import { clickhouseTicks } from '../../harness/stores.ts';
import type { Testbed } from '../../harness/testbed/testbed.ts';
import type { ChaosWorld, RecoverySample } from '../support/world.ts';

/**
 * Tick Stream (seed §3.2, §4 "TCP fallback within 100 ms"). Instance 0 streams
 * to the testbed's consumer through the UDP relay `tick-udp` and the proxy
 * route `tick-tcp`. Fault durations are nominal seed time, scaled like the
 * reconnect policy they interact with; the fallback bound is physical and
 * measured in real time, from the fault to the switch that resends the latest ticks over TCP.
 */

interface StreamState {
  status: string;
  udpHealthy: boolean;
  tcp: string;
  epoch: number;
  lastSeq: number;
  stats: Record<string, number>;
}

interface Held {
  heal(): Promise<void>;
}

// `blackhole` is the schedule vocabulary's word (it makes the fault a Tick Stream disruption); `both.down` is what the relay applies.
const BLACKHOLE = { blackhole: true, both: { down: true } };
const CLEAR = { both: { down: false, loss: 0 } };

async function streamState(bed: Testbed): Promise<StreamState> {
  const st = await bed.getJson<{ components: { stream?: StreamState | string } }>(`${bed.runtimeUrl(0)}/state?orders=0`);
  const s = st.components.stream;
  if (!s || typeof s === 'string') throw new Error(`runtime ea-0 is not streaming ticks (stream: ${String(s)})`);
  return s;
}

/** The relay's own heal (nemesis) patches fields the relay does not know; clear the blackhole explicitly first. */
async function healUdp(bed: Testbed, held: Held): Promise<void> {
  await bed.faults.updateUdpRelay('tick-udp', { impairments: CLEAR as never });
  await held.heal();
}

async function record(world: ChaosWorld, s: Omit<RecoverySample, 'fault'>): Promise<void> {
  world.recordRecovery({ ...s, ...(world.lastFault ? { fault: world.lastFault.id } : {}) });
}

function after(bed: Testbed, from: number, what: string, pred: (e: CollectedEvent) => boolean, timeoutMs = 15_000): Promise<CollectedEvent> {
  return bed.waitForEvent((e) => e.ts >= from && pred(e), { after: from, timeoutMs, what });
}

Given('the EA runtime is streaming ticks to the consumer', async function (this: ChaosWorld) {
  const bed = await this.startBed({ instances: 1, ordersPerSecond: 5 });
  const c = bed.consumer;
  if (!c) throw new Error('the testbed has no tick consumer');
  await waitFor(() => (c.stats().udpTicks >= 20 ? true : undefined), { what: '20 ticks at the consumer over UDP', timeoutMs: 20_000, intervalMs: 20 });
  await waitFor(async () => ((await streamState(bed)).status === 'udp' ? true : undefined), { what: 'the stream on UDP', timeoutMs: 10_000, intervalMs: 50 });
});

When('UDP to the consumer is blackholed', async function (this: ChaosWorld) {
  const held = await this.inject({ kind: 'udp.impair', target: 'tick-udp', params: BLACKHOLE });
  this.memo.set('udp', held);
});

Then('ticks are delivered over TCP within {int} ms', async function (this: ChaosWorld, boundMs: number) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  // The switch resends the latest tick per symbol over TCP in the same event-loop turn, so the
  // switch event is when the first tick goes out on TCP (and the event harness/measure/mapping.ts
  // ends a Tick Stream recovery on). The consumer only notices new ticks: the resent one is a
  // duplicate there, so its first *new* TCP tick waits for the feed's next quote.
  const sw = await after(bed, f.injectedAt, 'the runtime switching ticks to TCP', (e) => e.type === 'tick.switched' && e.data?.to === 'tcp');
  const ms = sw.ts - f.injectedAt;
  await record(this, { component: 'Tick Stream', goalMs: this.goal('tickStreamMs'), ms, scaled: false, from: 'blackhole of tick-udp', to: `${sw.source} tick.switched to tcp` });
  if (ms > boundMs) throw new Error(`Tick Stream: ticks switched to TCP ${ms} ms after the blackhole, over the ${boundMs} ms bound`);
  const got = await after(bed, f.injectedAt, "the consumer's first new tick over TCP", (e) => e.source === 'consumer' && e.type === 'consumer.tcp_tick');
  this.attach(`consumer's first new tick over TCP ${got.ts - f.injectedAt} ms after the blackhole (feed-paced)`, 'text/plain');
});

Then('streaming returns to UDP once it is healthy', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const held = this.memo.get('udp') as Held | undefined;
  // Live ticks over TCP, not only the latest-tick resend at the switch.
  const c = bed.consumer!;
  const tcpNow = c.stats().tcpTicks;
  await waitFor(() => (c.stats().tcpTicks > tcpNow ? true : undefined), { what: 'a live tick over TCP', timeoutMs: 10_000, intervalMs: 10 });
  if (held) await healUdp(bed, held);
  const f = this.lastFault!;
  const healedAt = f.healedAt ?? Date.now();
  const sw = await after(bed, healedAt, 'the runtime back on UDP', (e) => e.type === 'tick.switched' && e.data?.to === 'udp');
  await after(bed, sw.ts, 'a tick at the consumer over UDP', (e) => e.source === 'consumer' && e.type === 'consumer.udp_tick');
  this.attach(`back on UDP ${sw.ts - healedAt} ms after the relay healed`, 'text/plain');
  const st = await streamState(bed);
  if (st.status !== 'udp') throw new Error(`stream is ${st.status} after returning to UDP`);
});

/**
 * Live check: every tick the streamer has published in its current epoch is at
 * the consumer, through whichever path or gap fill. The run's tick-gaps checker
 * judges the whole history again after the scenario.
 */
Then('no tick was lost', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const c = bed.consumer!;
  const st = await streamState(bed);
  const missing = () => {
    const got = new Set<number>();
    for (const r of c.record().ticks) if (r.epoch === st.epoch) got.add(r.seq);
    const out: number[] = [];
    for (let s = 1; s <= st.lastSeq; s++) if (!got.has(s)) out.push(s);
    return out;
  };
  let left = missing();
  await waitFor(
    () => {
      left = missing();
      return left.length === 0 ? true : undefined;
    },
    { what: `ticks 1..${st.lastSeq} of epoch ${st.epoch} at the consumer`, timeoutMs: 10_000, intervalMs: 50 },
  ).catch(() => undefined);
  const unfillable = c.record().anomalies.filter((a) => a.kind === 'unfillable');
  const ok = left.length === 0;
  this.recordInvariant({
    name: 'tick-gaps',
    status: ok ? 'pass' : 'fail',
    details: ok ? `all ${st.lastSeq} ticks of epoch ${st.epoch} reached the consumer (${c.stats().historyTicks} by gap fill)` : `${left.length} of ${st.lastSeq} ticks missing, first ${left.slice(0, 10).join(',')}; ${unfillable.length} unfillable gaps`,
  });
  if (!ok) throw new Error(`tick-gaps: ${left.length} of ${st.lastSeq} ticks never reached the consumer (first: ${left.slice(0, 10).join(', ')})`);
});

When('both UDP and TCP to the consumer are down for {float} s', async function (this: ChaosWorld, s: number) {
  const bed = this.requireBed();
  const udp = await this.inject({ kind: 'udp.impair', target: 'tick-udp', params: BLACKHOLE });
  this.memo.set('outageFrom', udp.record.injectedAt);
  const tcp = await this.inject({ kind: 'network.down', target: 'tick-tcp' });
  await new Promise((r) => setTimeout(r, this.scaled(s * 1000)));
  await tcp.heal();
  await healUdp(bed, udp);
  this.memo.set('outageTo', Math.max(udp.record.healedAt ?? 0, tcp.record.healedAt ?? 0));
});

Then('the user is alerted that streaming stopped', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const from = this.memo.get('outageFrom') as number;
  await after(bed, from, 'tick.stream_stopped', (e) => e.type === 'tick.stream_stopped');
  await waitFor(() => bed.runtimeAlerts.find((a) => a.code === 'tick.stream_stopped' && a.at >= from), { what: 'the tick.stream_stopped alert at the notifier', timeoutMs: 5000, intervalMs: 20 });
});

Then('streaming resumes from the latest tick when they return', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const c = bed.consumer!;
  const to = this.memo.get('outageTo') as number;
  const from = this.memo.get('outageFrom') as number;
  const resumed = await after(bed, from, 'tick.stream_resumed', (e) => e.type === 'tick.stream_resumed');
  this.attach(`streaming resumed over ${String(resumed.data?.via)} ${resumed.ts - to} ms after both paths came back`, 'text/plain');
  const epoch = Number(resumed.data?.epoch);
  const lastSeq = Number(resumed.data?.lastSeq);
  await after(bed, resumed.ts, 'a live tick at the consumer after the resume', (e) => e.source === 'consumer' && (e.type === 'consumer.udp_tick' || e.type === 'consumer.tcp_tick'));
  // The buffer holds the latest tick per symbol only: live ticks at or before the resume point are those, the rest came by gap fill.
  const ticks = c.record().ticks;
  const symbols = new Set(ticks.map((t) => t.tick.symbol)).size;
  const replayed = ticks.filter((t) => t.epoch === epoch && t.via !== 'history' && t.receivedAt >= resumed.ts && t.seq <= lastSeq);
  if (replayed.length > symbols) throw new Error(`${replayed.length} buffered ticks were sent live after the resume; the buffer holds only the latest per symbol (${symbols})`);
});

When('the consumer asks for the ticks published so far', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const st = await streamState(bed);
  const before = st.stats.historyRequests ?? 0;
  const answer = await bed.consumer!.requestHistory({ epoch: st.epoch, fromSeq: 1, toSeq: st.lastSeq });
  this.memo.set('history', { answer, lastSeq: st.lastSeq, requestsBefore: before });
});

Then('historical ticks are served over TCP, not from the buffer', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const { answer, lastSeq, requestsBefore } = this.memo.get('history') as {
    answer: { ticks: { seq: number; tick: { symbol: string; time_msc: number } }[]; end: { status: string; count: number } };
    lastSeq: number;
    requestsBefore: number;
  };
  if (answer.end.status !== 'ok') throw new Error(`history answer ended with ${answer.end.status}`);
  const seqs = answer.ticks.map((t) => t.seq);
  if (seqs.length !== lastSeq || seqs.some((s, i) => s !== i + 1)) throw new Error(`history answered ${seqs.length} ticks for 1..${lastSeq}, not the full range in order`);
  const symbols = new Set(answer.ticks.map((t) => t.tick.symbol)).size;
  if (answer.ticks.length <= symbols) throw new Error(`only ${answer.ticks.length} ticks: no more than the latest-tick buffer holds`);
  // Same content as what the consumer received live: the history is the published stream, not a re-quote.
  const live = new Map(bed.consumer!.record().ticks.map((t) => [t.seq, t.tick.time_msc]));
  const differ = answer.ticks.filter((t) => live.has(t.seq) && live.get(t.seq) !== t.tick.time_msc).length;
  if (differ > 0) throw new Error(`${differ} history ticks differ from the live ones`);
  const st = await streamState(bed);
  if ((st.stats.historyRequests ?? 0) <= requestsBefore) throw new Error('the runtime counted no history request over TCP');
  this.attach(`${answer.ticks.length} ticks served over TCP from DuckDB history (${symbols} symbols in the latest-tick buffer)`, 'text/plain');
});

When(
  '{int}% of the tick datagrams to the consumer are lost, with duplicates and reordering, for {int} ticks',
  async function (this: ChaosWorld, lossPct: number, ticks: number) {
    const bed = this.requireBed();
    const from = (await streamState(bed)).lastSeq;
    // Upstream only (EA → consumer): the consumer's acks and history requests stay clean, so
    // what is measured is gap fill, not a fallback to TCP.
    const held = await this.inject({
      kind: 'udp.impair',
      target: 'tick-udp',
      params: { upstream: { loss: lossPct / 100, duplicate: 0.05, reorder: 0.1, reorder_window: 4 } },
    });
    this.memo.set('historyBeforeLoss', bed.consumer!.stats().historyTicks);
    try {
      await waitFor(async () => ((await streamState(bed)).lastSeq >= from + ticks ? true : undefined), {
        what: `${ticks} ticks sent through the lossy relay`,
        timeoutMs: 30_000,
        intervalMs: 50,
      });
    } finally {
      await held.heal();
    }
  },
);

Then("the consumer recovered the lost ticks from the EA's history or over TCP", async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const c = bed.consumer!;
  const historyBefore = this.memo.get('historyBeforeLoss') as number;
  const relay = await bed.faults.getUdpRelay('tick-udp');
  const dropped = relay.stats?.upstream?.dropped ?? 0;
  // The fault must have bitten, or "nothing lost" proves nothing.
  if (dropped === 0) throw new Error('the UDP relay dropped no datagram, so the loss fault did not apply');
  const f = this.lastFault!;
  const toTcp = () => bed.events().filter((e) => e.ts >= f.injectedAt && e.type === 'tick.switched' && e.data?.to === 'tcp').length;
  await waitFor(() => ((c.stats().historyTicks > historyBefore || toTcp() > 0) && c.missingCount() === 0 ? true : undefined), {
    what: "the consumer to recover the lost ticks (gap fill from history, or the stream on TCP)",
    timeoutMs: 10_000,
    intervalMs: 20,
  });
  this.attach(`relay dropped ${dropped} datagrams; ${c.stats().historyTicks - historyBefore} ticks refilled from history in ${c.stats().historyRequests} requests; ${toTcp()} switches to TCP`, 'text/plain');
});

// ---- Ticks to ClickHouse (seed §3.5 "orders, deals, positions and ticks") ----

Then('the tick backlog reaches ClickHouse within {float} s of ClickHouse coming back', async function (this: ChaosWorld, s: number) {
  const bed = this.requireBed();
  const f = this.lastFault!;
  const from = f.healedAt ?? f.injectedAt;
  // The tick sync announces a drain on its first successful cycle after a failed one; a failure
  // before the heal is what makes the event follow this outage.
  await after(bed, f.injectedAt, 'a tick sync failure during the outage', (e) => e.type === 'tick_sync.retry' || e.type === 'tick_sync.parked');
  const drained = await after(bed, from, 'tick_sync.drained after the outage', (e) => e.type === 'tick_sync.drained');
  const ms = drained.ts - from;
  await record(this, { component: 'ClickHouse Sync', goalMs: this.goal('clickhouseSyncMs'), ms, scaled: false, from: `heal of ${f.kind} ${f.target}`, to: `${drained.source} tick_sync.drained` });
  if (ms > s * 1000) throw new Error(`ClickHouse Sync: the tick backlog drained ${ms} ms after ClickHouse was back, over the ${s} s bound`);
});

Then('ClickHouse holds every tick the EA published, each once', async function (this: ChaosWorld) {
  const bed = this.requireBed();
  const st = await streamState(bed);
  // Read as the report's checker reads it (with FINAL: a batch resent after a lost answer counts once).
  let rows: StreamTickKey[] = [];
  let distinct = 0;
  await waitFor(
    async () => {
      rows = ((await clickhouseTicks(bed.lab.info.clickhouse.url, this.config.clickhouse.database, 'ea-0')) ?? []).filter((t) => t.epoch === st.epoch && t.seq <= st.lastSeq);
      distinct = new Set(rows.map((t) => t.seq)).size;
      return distinct === st.lastSeq ? true : undefined;
    },
    // The sync sends once a second; the bound leaves it a few cycles.
    { what: `ticks 1..${st.lastSeq} of epoch ${st.epoch} in ClickHouse`, timeoutMs: 10_000, intervalMs: 200 },
  ).catch(() => undefined);
  if (distinct !== st.lastSeq || rows.length !== distinct) {
    throw new Error(`ClickHouse holds ${distinct} distinct of ticks 1..${st.lastSeq} of epoch ${st.epoch} (${rows.length} rows after FINAL)`);
  }
});
