import { escapeXml as x, fmtMs } from './escape.ts';
import type { RunReport, ScenarioResult } from './schema.ts';

function scenarioName(s: ScenarioResult, report: RunReport): string {
  const repeats = report.scenarios.filter((o) => o.name === s.name).length;
  return repeats > 1 ? `${s.name} #${s.repeat + 1}` : s.name;
}

function scenarioProblems(s: ScenarioResult): string[] {
  const out: string[] = [];
  for (const i of s.invariants) if (i.status !== 'pass') out.push(`${i.status.toUpperCase()} ${i.name}: ${i.details}`);
  for (const r of s.recoveries) {
    if (r.pass === false) out.push(`FAIL recovery ${r.faultId} ${r.kind} ${r.target} → ${r.component}: ${r.status === 'unrecovered' ? 'no recovery observed' : `${fmtMs(r.ms)} > goal ${fmtMs(r.goalMs)}`}`);
  }
  for (const f of s.faults) if (f.injectedAt === null) out.push(`UNKNOWN fault ${f.id} ${f.kind} ${f.target} was not injected${f.error ? `: ${f.error}` : ''}`);
  return out;
}

/**
 * JUnit XML: suite `scenarios` with one testcase per scenario run, suite
 * `recovery-goals` with one per component. `unknown` is reported as a failure
 * of type "unknown" (the gate does not pass it either); a component without
 * samples is skipped.
 */
export function renderJunit(report: RunReport): string {
  const sc = report.scenarios.map((s) => {
    const time = Math.max(0, (s.endedAt - s.startedAt) / 1000).toFixed(3);
    const head = `    <testcase classname="ea-chaos.scenario" name="${x(scenarioName(s, report))}" time="${time}">`;
    if (s.status === 'pass') return `${head}</testcase>`;
    const problems = scenarioProblems(s);
    const msg = problems[0] ?? s.status;
    return `${head}\n      <failure type="${s.status}" message="${x(msg)}">${x(problems.join('\n'))}</failure>\n    </testcase>`;
  });
  const goals = report.components.map((c) => {
    const head = `    <testcase classname="ea-chaos.recovery-goal" name="${x(`${c.name} p99 <= ${fmtMs(c.goalMs)}`)}" time="0">`;
    if (c.pass === null) return `${head}\n      <skipped message="no samples: no scenario in this run disturbed ${x(c.name)}"/>\n    </testcase>`;
    if (c.pass) return `${head}</testcase>`;
    const why = c.unrecovered > 0 ? `${c.unrecovered} of ${c.samples} faults without recovery` : `p99 ${fmtMs(c.p99Ms)} > goal ${fmtMs(c.goalMs)}`;
    return `${head}\n      <failure type="fail" message="${x(why)}">${x(`samples ${c.samples}, p50 ${fmtMs(c.p50Ms)}, p95 ${fmtMs(c.p95Ms)}, p99 ${fmtMs(c.p99Ms)}, max ${fmtMs(c.maxMs)}`)}</failure>\n    </testcase>`;
  });
  const failS = report.scenarios.filter((s) => s.status !== 'pass').length;
  const failG = report.components.filter((c) => c.pass === false).length;
  const skipG = report.components.filter((c) => c.pass === null).length;
  const totalTime = (report.durationMs / 1000).toFixed(3);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="ea-chaos ${x(report.runId)}" tests="${sc.length + goals.length}" failures="${failS + failG}" errors="0" skipped="${skipG}" time="${totalTime}">`,
    `  <testsuite name="scenarios" tests="${sc.length}" failures="${failS}" errors="0" skipped="0" time="${totalTime}">`,
    `    <properties><property name="seed" value="${report.seed}"/><property name="timeScale" value="${report.timeScale}"/></properties>`,
    ...sc,
    '  </testsuite>',
    `  <testsuite name="recovery-goals" tests="${goals.length}" failures="${failG}" errors="0" skipped="${skipG}" time="0">`,
    ...goals,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
