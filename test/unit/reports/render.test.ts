import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeXml } from '../../../reports/escape.ts';
import { evaluateGate, parseGoalsFile, renderHtml, renderJunit, renderSummary, RunReportSchema } from '../../../reports/index.ts';
import { ConfigError } from '../../../core/errors.ts';
import { sampleReport } from './sample.ts';
import { xmlProblem } from './xml.ts';

describe('buildRunReport', () => {
  const r = sampleReport();
  it('validates against the documented schema', () => {
    expect(() => RunReportSchema.parse(JSON.parse(JSON.stringify(r)))).not.toThrow();
  });
  it('aggregates components over repeats and judges p99 against the goal', () => {
    const tick = r.components.find((c) => c.id === 'tick')!;
    expect(tick).toMatchObject({ samples: 9, goalMs: 100, scaling: 'physical', pass: false, maxMs: 120 });
    expect(r.components.find((c) => c.id === 'clickhouse')).toMatchObject({ goalMs: 500, factor: 0.1, scaling: 'scaled', pass: null });
    expect(r.goalScaling.filter((g) => g.scaling === 'scaled').map((g) => g.component)).toEqual(['clickhouse']);
  });
  it('gives each scenario run its status, faults, recoveries and invariants', () => {
    expect(r.scenarios.map((s) => `${s.name}:${s.status}`)).toEqual([
      'udp-blackhole:pass',
      'udp-blackhole:pass',
      'udp-blackhole:fail',
      'redis-master-kill:pass',
      'broker-timeout-after-exec:fail',
    ]);
    const b = r.scenarios[4]!;
    expect(b.invariants.map((i) => `${i.name}:${i.status}`)).toEqual(['orders-lost:fail', 'orders-duplicated:fail', 'tick-gaps:unknown']);
    expect(b.recoveries[0]).toMatchObject({ component: 'trade', ms: 1600, goalMs: 1000, pass: false });
    expect(r.status).toBe('fail');
    expect(r.versions['redis-server']).toBe('7.0.15');
    expect(r.seedContradictions.length).toBeGreaterThan(0);
    expect(r.seedContradictions.find((n) => n.id === 'tick-tcp-reconnect')!.observed).toMatch(/^UDP→TCP switch \d+–\d+ ms after UDP was declared down/);
  });
});

describe('junit.xml', () => {
  const r = sampleReport();
  const xml = renderJunit(r);
  it('is well-formed with one testcase per scenario run and per component goal', () => {
    expect(xmlProblem(xml)).toBeNull();
    expect(xml.match(/<testcase /g)).toHaveLength(r.scenarios.length + 7);
    expect(xml).toContain('name="udp-blackhole #3"');
    expect(xml).toMatch(/<testcase classname="ea-chaos.recovery-goal" name="DuckDB p99 &lt;= 3.00 s" time="0">\s*<skipped/);
    expect(xml).toContain('<testsuites name="ea-chaos 20261124-183000-s42" tests="12" failures="4" errors="0" skipped="3"');
  });
  it('escapes whatever the data holds', () => {
    expect(xml).not.toContain('a<&"b');
    const weird = { ...r, runId: `x<y&"z'\u0001` };
    const out = renderJunit(weird);
    expect(xmlProblem(out)).toBeNull();
    expect(out).toContain('x&lt;y&amp;&quot;z&apos;');
  });
  it('stays well-formed for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const rr = { ...r, runId: s, scenarios: r.scenarios.map((x) => ({ ...x, invariants: x.invariants.map((i) => ({ ...i, status: 'fail' as const, details: s })) })) };
        expect(xmlProblem(renderJunit(rr))).toBeNull();
      }),
      { numRuns: 60 },
    );
    expect(escapeXml('<&>"\'')).toBe('&lt;&amp;&gt;&quot;&apos;');
  });
  it('the checker itself rejects broken XML', () => {
    expect(xmlProblem('<a><b></a>')).not.toBeNull();
    expect(xmlProblem('<a>x & y</a>')).not.toBeNull();
    expect(xmlProblem('<a x=1/>')).not.toBeNull();
  });
});

describe('report.html', () => {
  const r = sampleReport();
  const html = renderHtml(r);
  it('is self-contained: no scripts, no external references', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)=["']?https?:/i);
    expect(html).not.toMatch(/<link /i);
    expect(html).toContain('&lt;script&gt;');
  });
  it('has one chart per component and one timeline per scenario run', () => {
    const svgs = html.match(/<svg /g) ?? [];
    expect(svgs).toHaveLength(7 + r.scenarios.length);
    for (const c of r.components) expect(html).toContain(`${c.name} recovery times against the`);
    expect(html.match(/aria-label="timeline of /g)).toHaveLength(r.scenarios.length);
    expect(html).toContain('goal 100 ms');
  });
  it('every svg is well-formed XML', () => {
    for (const m of html.matchAll(/<svg [\s\S]*?<\/svg>/g)) expect(xmlProblem(m[0])).toBeNull();
  });
  it('states the time scale, the scaled goals and the seed contradictions', () => {
    expect(html).toMatch(/multiplied by 0.1/);
    expect(html).toContain('clickhouse-drain-period');
    expect(html).toContain('drains failed_syncs at once');
    expect(html).toContain('Observed in this run:</i> UDP→TCP switch');
  });
});

describe('summary', () => {
  it('renders a table with every component and scenario and the report path', () => {
    const r = sampleReport();
    const s = renderSummary(r, { reportPath: 'reports/runs/x/report.html' });
    for (const c of r.components) expect(s).toContain(c.name);
    expect(s).toMatch(/Tick Stream\s+100 ms\s+9\s+60 ms\s+120 ms\s+120 ms\s+120 ms\s+fail/);
    expect(s).toMatch(/ClickHouse Sync\s+500 ms\*/);
    expect(s).toMatch(/broker-timeout-after-exec\s+fail\s+1\s+orders-lost fail/);
    expect(s.trimEnd().endsWith('report: reports/runs/x/report.html')).toBe(true);
    expect(s).not.toContain('\u001b[');
    expect(renderSummary(r, { color: true })).toContain('\u001b[31mfail');
  });
});

describe('gate', () => {
  const r = sampleReport();
  it('fails on a missed goal, a failed invariant and an unknown one', () => {
    const g = evaluateGate(r);
    expect(g.ok).toBe(false);
    expect(g.failures.join('\n')).toMatch(/Tick Stream: p99 120 ms > goal 100 ms/);
    expect(g.failures.join('\n')).toMatch(/invariant orders-duplicated failed/);
    expect(g.failures.join('\n')).toMatch(/tick-gaps unknown/);
  });
  it('passes a clean report, and custom thresholds move the line', () => {
    const clean = { ...r, scenarios: r.scenarios.slice(0, 4) };
    const comps = clean.components.map((c) => (c.id === 'trade' ? { ...c, samples: 0, sampleMs: [], unrecovered: 0 } : c));
    expect(evaluateGate({ ...clean, components: comps }).ok).toBe(false);
    expect(evaluateGate({ ...clean, components: comps }, { overrides: { tick: 120 } }).ok).toBe(true);
    expect(evaluateGate({ ...clean, components: comps }, { overrides: { tick: 119 } }).ok).toBe(false);
  });
  it('a run in which nothing ran is unknown and does not pass the gate', async () => {
    const { buildRunReport } = await import('../../../reports/index.ts');
    const { ConfigSchema } = await import('../../../core/config/schema.ts');
    const empty = buildRunReport({ runId: 'x', createdAt: 'now', histories: [], config: ConfigSchema.parse({}) });
    expect(empty.status).toBe('unknown');
    expect(evaluateGate(empty)).toMatchObject({ ok: false, failures: ['no scenario ran in this run'] });
  });
  it('parses goals files by component id or config key and names bad fields', () => {
    expect(parseGoalsFile('goals: { tick: 150, redisStateMs: 2500 }\nallowUnknown: true', 'g.yaml')).toEqual({ overrides: { tick: 150, redis: 2500 }, allowUnknown: true });
    expect(parseGoalsFile('{"goals":{"eaProcessMs":800}}', 'g.json').overrides).toEqual({ process: 800 });
    try {
      parseGoalsFile('goals: { tik: 150, redis: -1 }', 'g.yaml');
      throw new Error('expected ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues.map((i) => i.path).sort()).toEqual(['goals.redis']);
    }
    expect(() => parseGoalsFile('goals: { tik: 150 }', 'g.yaml')).toThrow(/goals\.tik/);
  });
});
