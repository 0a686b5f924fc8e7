import { describe, expect, it } from 'vitest';
import { aggregateComponents, measureRecoveries, percentile, seedContradictions, effectiveGoal } from '../../../harness/measure/index.ts';
import { ConfigSchema } from '../../../core/config/schema.ts';
import { history } from './fixtures.ts';

const udp = { at: '1s', kind: 'udp.impair', target: 'tick-udp', duration: '2s', impair: { blackhole: true } };

describe('percentile (nearest rank)', () => {
  it('picks the value at rank ceil(p*n)', () => {
    const xs = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(100);
    expect(percentile(xs, 99)).toBe(100);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([], 50)).toBeNull();
    const hundred = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(percentile(hundred, 99)).toBe(198);
  });
});

describe('measureRecoveries', () => {
  it('measures a ride-through fault from its injection to the first recovery event', () => {
    const h = history({ faults: [udp], events: [{ ts: 900, type: 'tick.switched' }, { ts: 1030, type: 'tick.udp_down' }, { ts: 1042, type: 'tick.switched', data: { to: 'tcp' } }] });
    const [s] = measureRecoveries(h);
    expect(s).toMatchObject({ faultId: 'f1.1', component: 'tick', status: 'recovered', ms: 42, event: 'tick.switched' });
  });
  it('measures a heal-referenced fault from its heal', () => {
    const h = history({
      faults: [{ at: '1s', kind: 'process.stop', target: 'clickhouse', duration: '3s' }],
      events: [{ ts: 1500, type: 'clickhouse.down' }, { ts: 4250, type: 'clickhouse.up' }],
    });
    expect(measureRecoveries(h)[0]).toMatchObject({ component: 'clickhouse', reference: 'heal', ms: 250, status: 'recovered' });
  });
  it('requires sync.drained once a batch was parked', () => {
    const h = history({
      faults: [{ at: '1s', kind: 'process.stop', target: 'clickhouse', duration: '3s' }],
      events: [{ ts: 1500, type: 'clickhouse.down' }, { ts: 2000, type: 'sync.parked' }, { ts: 4250, type: 'clickhouse.up' }, { ts: 4400, type: 'sync.drained' }],
    });
    expect(measureRecoveries(h)[0]).toMatchObject({ ms: 400, event: 'sync.drained' });
  });
  it('an injection-referenced fault with no recovery is unrecovered; a heal-referenced one with no trace is unaffected', () => {
    const a = history({ faults: [udp], events: [] });
    expect(measureRecoveries(a)[0]).toMatchObject({ status: 'unrecovered', ms: null });
    const b = history({ faults: [{ at: '1s', kind: 'broker.knob', target: 'broker', duration: '1s', knobs: { rejectRate: 1 } }], events: [] });
    expect(measureRecoveries(b)[0]).toMatchObject({ status: 'unaffected' });
  });
  it('takes the slowest of the hit instances, and fails when one never recovers', () => {
    const faults = [{ at: '1s', kind: 'process.kill', target: 'redis-master', measure: ['redis'] }];
    const ok = history({
      faults,
      events: [
        { ts: 1100, type: 'redis.down', instance: 'a' },
        { ts: 1200, type: 'redis.down', instance: 'b' },
        { ts: 2000, type: 'redis.master_changed', instance: 'a' },
        { ts: 2600, type: 'redis.up', instance: 'b' },
      ],
    });
    expect(measureRecoveries(ok)[0]).toMatchObject({ ms: 1600, instances: [{ instance: 'a', ms: 1000 }, { instance: 'b', ms: 1600 }] });
    const bad = history({ faults, events: [{ ts: 1100, type: 'redis.down', instance: 'a' }, { ts: 1200, type: 'redis.down', instance: 'b' }, { ts: 2000, type: 'redis.up', instance: 'a' }] });
    expect(measureRecoveries(bad)[0]).toMatchObject({ status: 'unrecovered' });
  });
  it('credits no event to an earlier fault once the next fault on the component began', () => {
    const h = history({ faults: [{ ...udp, repeat: { count: 2, every: '5s' } }], events: [{ ts: 6050, type: 'tick.switched' }] });
    const [a, b] = measureRecoveries(h);
    expect(a).toMatchObject({ faultId: 'f1.1', status: 'unrecovered' });
    expect(b).toMatchObject({ faultId: 'f1.2', ms: 50 });
  });
  it('matches runtime:N to that instance only and skips faults never injected', () => {
    const h = history({
      faults: [{ at: '1s', kind: 'process.kill', target: 'runtime:2' }, { at: '5s', kind: 'process.kill', target: 'runtime:1' }],
      log: [{ id: 'f1.1', injectedAt: 1000 }, { id: 'f2.1', injectedAt: null }],
      events: [{ ts: 1300, type: 'runtime.ready', instance: 'rt-1' }, { ts: 1700, type: 'runtime.ready', instance: 'rt-2' }],
    });
    const [a, b] = measureRecoveries(h);
    expect(a).toMatchObject({ ms: 700 });
    expect(b).toMatchObject({ status: 'not_injected' });
  });
});

describe('aggregateComponents', () => {
  const events = [{ ts: 1020, type: 'tick.switched' }, { ts: 6080, type: 'tick.switched' }, { ts: 11_150, type: 'tick.switched' }];
  const h = history({ faults: [{ ...udp, repeat: { count: 3, every: '5s' } }], events });
  it('computes percentiles per component and judges p99 against the goal', () => {
    const comps = aggregateComponents(measureRecoveries(h), { timeScale: 1 });
    const tick = comps.find((c) => c.id === 'tick')!;
    expect(tick).toMatchObject({ samples: 3, sampleMs: [20, 80, 150], p50Ms: 80, p99Ms: 150, maxMs: 150, goalMs: 100, pass: false });
    expect(comps.find((c) => c.id === 'redis')).toMatchObject({ samples: 0, pass: null });
    const relaxed = aggregateComponents(measureRecoveries(h), { timeScale: 1, overrides: { tick: 200 } });
    expect(relaxed.find((c) => c.id === 'tick')!.pass).toBe(true);
  });
  it('scales only the scaled goals', () => {
    // Every goal is physical by default: the drain on a health probe makes ClickHouse's too.
    expect(effectiveGoal('clickhouse', { timeScale: 0.1 })).toMatchObject({ goalMs: 5000, seedGoalMs: 5000, scaling: 'physical', factor: 1 });
    expect(effectiveGoal('clickhouse', { timeScale: 0.1, scaling: { clickhouse: 'scaled' } })).toMatchObject({ goalMs: 500, scaling: 'scaled', factor: 0.1 });
    expect(effectiveGoal('redis', { timeScale: 0.1 })).toMatchObject({ goalMs: 3000, scaling: 'physical', factor: 1 });
    expect(effectiveGoal('redis', { timeScale: 0.1, scaling: { redis: 'scaled' } }).goalMs).toBe(300);
  });
  it('an unrecovered sample fails the component even when the recovered ones are fast', () => {
    const one = history({ faults: [{ ...udp, repeat: { count: 2, every: '5s' } }], events: [{ ts: 1010, type: 'tick.switched' }] });
    expect(aggregateComponents(measureRecoveries(one), { timeScale: 1 }).find((c) => c.id === 'tick')).toMatchObject({ samples: 2, unrecovered: 1, pass: false });
  });
});

describe('seedContradictions', () => {
  it('names the seed tunings that cannot meet their goals, and drops them when the tuning is fixed', () => {
    const ids = seedContradictions(ConfigSchema.parse({})).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['clickhouse-drain-period', 'trade-backoff', 'session-new-session-delay', 'tick-tcp-reconnect', 'process-restart-interval']));
    const fixed = ConfigSchema.parse({ clickhouse: { failedSyncRetryMs: 1000, retryIntervalMs: 1000 } });
    expect(seedContradictions(fixed).map((c) => c.id)).not.toContain('clickhouse-drain-period');
    const note = seedContradictions(ConfigSchema.parse({})).find((c) => c.id === 'clickhouse-drain-period')!;
    expect(note.resolution).toMatch(/drains failed_syncs at once/);
  });
});

describe('secondary components', () => {
  it('a session that never felt a master kill is unaffected, while the silent primary is unrecovered', () => {
    const h = history({ faults: [{ at: '1s', kind: 'process.kill', target: 'redis-master' }], events: [] });
    const s = measureRecoveries(h);
    expect(s.map((x) => `${x.component}:${x.status}`)).toEqual(['redis:unrecovered', 'session:unaffected']);
  });
});

describe('observeContradictions', () => {
  it('adds what the events show the runtime did, and leaves notes without evidence alone', async () => {
    const { observeContradictions } = await import('../../../harness/measure/index.ts');
    const notes = seedContradictions(ConfigSchema.parse({}));
    const out = observeContradictions(notes, [
      { ts: 100, type: 'sync.parked' },
      { ts: 1000, type: 'clickhouse.up' },
      { ts: 1180, type: 'sync.drained' },
      { ts: 5000, type: 'clickhouse.up' },
      { ts: 5120, type: 'sync.drained' },
    ]);
    expect(out.find((n) => n.id === 'clickhouse-drain-period')!.observed).toBe('1 batch(es) parked in failed_syncs; 2 drain(s), 120–180 ms after ClickHouse answered again');
    expect(out.find((n) => n.id === 'trade-backoff')!.observed).toBeUndefined();
    expect(out).toHaveLength(notes.length);
  });
});

describe('heal-referenced faults', () => {
  const knob = [{ at: '1s', kind: 'broker.knob', target: 'broker', duration: '2s', knobs: { rejectRate: 0.5 } }];
  it('an instance already back before the heal has nothing to recover', () => {
    const h = history({
      faults: knob,
      events: [
        { ts: 1200, type: 'order.retry' },
        { ts: 1500, type: 'order.state', data: { clientId: 'a', to: 'filled' } },
        { ts: 3900, type: 'order.state', data: { clientId: 'b', to: 'filled' } },
      ],
    });
    expect(measureRecoveries(h)[0]).toMatchObject({ status: 'unaffected' });
  });
  it('an instance still waiting at the heal is timed from the heal', () => {
    const h = history({
      faults: knob,
      events: [
        { ts: 1500, type: 'order.state', data: { clientId: 'a', to: 'filled' } },
        { ts: 2500, type: 'order.state', data: { clientId: 'b', to: 'retrying' } },
        { ts: 3300, type: 'order.state', data: { clientId: 'b', to: 'filled' } },
      ],
    });
    expect(measureRecoveries(h)[0]).toMatchObject({ status: 'recovered', ms: 300 });
  });
});
