import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { FAULT_KINDS, loadScenarioFile, parseDuration, parseScenario, parseScenarioText, resolveSchedule, ResolvedScheduleSchema } from '../../../harness/scenario/index.ts';

const SCENARIOS = join(import.meta.dirname, '../../../scenarios');

const base = (faults: unknown[]) => ({ name: 'demo', description: 'a demo', tags: ['@redis'], faults });

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('scenario files', () => {
  const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml'));
  it('there is one per seed test', () => {
    for (const f of ['udp-blackhole.yaml', 'redis-master-kill.yaml', 'runtime-kill.yaml', 'clickhouse-outage.yaml', 'session-loss.yaml']) expect(files).toContain(f);
  });
  it.each(files)('%s loads, its name matches the file and it resolves', (f) => {
    const s = loadScenarioFile(join(SCENARIOS, f));
    expect(`${s.name}.yaml`).toBe(f);
    const r = resolveSchedule(s, 1);
    expect(() => ResolvedScheduleSchema.parse(r)).not.toThrow();
    expect(r.endMs).toBeLessThanOrEqual(s.workload.duration);
  });
});

describe('durations', () => {
  it('parses numbers and unit strings', () => {
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('2x')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(1.5)).toBeUndefined();
  });
});

describe('parseScenario errors', () => {
  it('names path, value and expectation for an unknown target', () => {
    const issues = issuesOf(() => parseScenario(base([{ at: '1s', kind: 'process.kill', target: 'redis' }, { at: 0, kind: 'process.kill', target: 'redis-mastr' }]), 'x.yaml'));
    expect(issues).toHaveLength(2);
    expect(issues[0]!.path).toBe('faults[0].target');
    expect(issues[1]).toMatchObject({ path: 'faults[1].target', received: 'redis-mastr' });
    expect(issues[1]!.expected).toMatch(/redis-master/);
  });
  it('rejects an unknown kind listing the known ones', () => {
    const issues = issuesOf(() => parseScenario(base([{ at: 0, kind: 'network.flap', target: 'broker' }])));
    expect(issues[0]).toMatchObject({ path: 'faults[0].kind', received: 'network.flap' });
    for (const k of FAULT_KINDS) expect(issues[0]!.expected).toContain(k);
  });
  it('validates targets per kind', () => {
    expect(() => parseScenario(base([{ at: 0, kind: 'udp.impair', target: 'tick-udp', duration: '1s', impair: { blackhole: true } }]))).not.toThrow();
    const issues = issuesOf(() => parseScenario(base([{ at: 0, kind: 'udp.impair', target: 'broker', duration: '1s', impair: { blackhole: true } }])));
    expect(issues[0]!.path).toBe('faults[0].target');
  });
  it('requires a duration for faults with a heal step', () => {
    const issues = issuesOf(() => parseScenario(base([{ at: 0, kind: 'process.pause', target: 'redis-master' }])));
    expect(issues[0]!.path).toBe('faults[0].duration');
  });
  it('checks broker knobs against the simulator schema and toxic attributes per type', () => {
    const issues = issuesOf(() =>
      parseScenario(
        base([
          { at: 0, kind: 'broker.knob', target: 'broker', duration: 1000, knobs: { rejectRat: 0.5 } },
          { at: 0, kind: 'network.toxic', target: 'broker', duration: 1000, toxic: { type: 'latency', attributes: { latncy: 1 } } },
        ]),
      ),
    );
    expect(issues.map((i) => i.path)).toEqual(['faults[0].knobs.rejectRat', 'faults[1].toxic.attributes.latncy']);
  });
  it('rejects overlapping repeats, unknown tags and unknown fields', () => {
    const issues = issuesOf(() =>
      parseScenario({ ...base([{ at: 0, kind: 'network.down', target: 'redis', duration: '2s', repeat: { count: 2, every: '1s' } }]), tags: ['@redis', '@nope'], extra: 1 }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['extra', 'faults[0].repeat.every', 'tags[1]']);
  });
  it('reports YAML syntax errors with a line number', () => {
    expect(() => parseScenarioText('name: x\nfaults: [1,\n  b: 2', 'bad.yaml')).toThrow(/bad\.yaml at line \d+/);
  });
  it('a missing file is a ConfigError naming it', () => {
    expect(() => loadScenarioFile('/nonexistent/x.yaml')).toThrow(ConfigError);
  });
});

describe('resolveSchedule', () => {
  const s = parseScenario(
    base([
      { at: '5s', kind: 'network.down', target: 'redis', duration: '1s', repeat: { count: 3, every: '2s' } },
      { at: '1s', kind: 'process.kill', target: 'runtime:2', jitter: '500ms' },
      { at: '0', kind: 'udp.impair', target: 'tick-udp', duration: '1s', impair: { blackhole: true } },
    ]),
  );
  it('expands repeats into a time-ordered list with stable ids', () => {
    const r = resolveSchedule(s, 42);
    expect(r.faults.map((f) => f.id)).toEqual(['f3.1', 'f2.1', 'f1.1', 'f1.2', 'f1.3']);
    expect(r.faults.filter((f) => f.faultIndex === 0).map((f) => f.atMs)).toEqual([5000, 7000, 9000]);
    expect(r.endMs).toBe(10_000);
    expect(r.faults[0]).toMatchObject({ components: ['tick'], reference: 'injection' });
    expect(r.faults[1]).toMatchObject({ components: ['process'], reference: 'injection', durationMs: null });
    expect(r.faults[2]).toMatchObject({ components: ['redis', 'session'], reference: 'heal' });
  });
  it('draws jitter from the seed: same seed, same schedule', () => {
    expect(resolveSchedule(s, 42)).toEqual(resolveSchedule(s, 42));
    const ats = new Set(Array.from({ length: 20 }, (_, i) => resolveSchedule(s, i).faults.find((f) => f.id === 'f2.1')!.atMs));
    expect(ats.size).toBeGreaterThan(1);
    for (const a of ats) expect(a >= 1000 && a <= 1500).toBe(true);
  });
  it('honours measure and reference overrides', () => {
    const o = parseScenario(base([{ at: 0, kind: 'process.kill', target: 'redis-master', measure: [], reference: 'heal' }]));
    expect(resolveSchedule(o, 1).faults[0]).toMatchObject({ components: [], reference: 'heal' });
  });
});

describe('robustness', () => {
  const fault = fc.record(
    {
      at: fc.oneof(fc.nat(), fc.constantFrom('2s', '500ms', 'x', '-1s'), fc.anything()),
      kind: fc.oneof(fc.constantFrom(...FAULT_KINDS), fc.string()),
      target: fc.oneof(fc.constantFrom('redis-master', 'runtime:1', 'tick-udp', 'broker', 'duckdb-wal', 'nope'), fc.anything()),
      duration: fc.oneof(fc.nat(), fc.string(), fc.anything()),
      repeat: fc.anything(),
      impair: fc.anything(),
      knobs: fc.anything(),
      toxic: fc.anything(),
      file: fc.anything(),
    },
    { requiredKeys: [] },
  );
  const doc = fc.oneof(
    fc.anything(),
    fc.record({ name: fc.oneof(fc.constant('ok'), fc.anything()), description: fc.anything(), tags: fc.anything(), workload: fc.anything(), faults: fc.oneof(fc.array(fault, { maxLength: 4 }), fc.anything()) }, { requiredKeys: [] }),
  );
  it('random documents either load or throw ConfigError, never anything else', () => {
    fc.assert(
      fc.property(doc, (d) => {
        try {
          parseScenario(d, 'fuzz');
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          expect(e.issues.length + (e.message.length > 0 ? 1 : 0)).toBeGreaterThan(0);
        }
      }),
      { numRuns: 400 },
    );
  });
  it('random YAML text never crashes the loader', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), doc.map((d) => { try { return stringify(d) ?? ''; } catch { return ''; } })), (text) => {
        try {
          parseScenarioText(text, 'fuzz.yaml');
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});
