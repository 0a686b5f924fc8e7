import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregateComponents, measureRecoveries, RECOVERY_EVENTS, DISRUPTION_EVENTS } from '../../../harness/measure/index.ts';
import { runCheckers } from '../../../harness/checkers/index.ts';
import { history } from './fixtures.ts';

const types = [...new Set([...Object.values(RECOVERY_EVENTS), ...Object.values(DISRUPTION_EVENTS)].flat().map((m) => m.type)), 'noise.event'];
const faults = [
  { at: '1s', kind: 'udp.impair', target: 'tick-udp', duration: '1s', impair: { blackhole: true }, repeat: { count: 2, every: '3s' } },
  { at: '2s', kind: 'process.kill', target: 'redis-master', duration: '2s' },
  { at: '2500ms', kind: 'process.stop', target: 'clickhouse', duration: '1s' },
  { at: '3s', kind: 'process.kill', target: 'runtime:1' },
  { at: '4s', kind: 'broker.knob', target: 'broker', duration: '1s', knobs: { rejectRate: 1 } },
];

describe('measurement over random event streams', () => {
  it('never throws, never reports a negative time, and percentiles are ordered', () => {
    const event = fc.record({
      ts: fc.integer({ min: 0, max: 12_000 }),
      type: fc.constantFrom(...types),
      instance: fc.option(fc.constantFrom('rt-1', 'rt-2'), { nil: undefined }),
      data: fc.option(fc.record({ to: fc.constantFrom('filled', 'retrying', 'unknown', 'tcp') }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.boolean(), (events, dropLog) => {
        const h = history({ faults, events: events.map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as never), endedAt: 12_000, ...(dropLog ? { log: [] } : {}) });
        const samples = measureRecoveries(h);
        expect(samples.length).toBe(h.schedule.faults.reduce((n, f) => n + f.components.length, 0));
        for (const s of samples) {
          if (s.status === 'recovered') {
            expect(s.ms).toBe(s.recoveredAt! - s.referenceAt!);
            expect(s.ms!).toBeGreaterThanOrEqual(0);
          } else expect(s.ms).toBeNull();
          if (dropLog) expect(s.status).toBe('not_injected');
        }
        for (const c of aggregateComponents(samples, { timeScale: 0.5 })) {
          if (c.samples === 0) expect(c.pass).toBeNull();
          if (c.sampleMs.length) expect(c.p50Ms! <= c.p95Ms! && c.p95Ms! <= c.p99Ms! && c.p99Ms! <= c.maxMs!).toBe(true);
          if (c.unrecovered > 0) expect(c.pass).toBe(false);
        }
        for (const r of runCheckers(h)) expect(r.status).toBe('unknown');
      }),
      { numRuns: 300 },
    );
  });
});
