import { fmtMs } from './escape.ts';
import type { RunReport } from './schema.ts';

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export interface SummaryOptions {
  /** Where the report was written, printed last. */
  reportPath?: string;
  /** ANSI colours for pass/fail (off unless asked: the summary often lands in CI logs). */
  color?: boolean;
}

/** The end-of-run table for a terminal: one line per component goal, one per scenario run. */
export function renderSummary(r: RunReport, o: SummaryOptions = {}): string {
  const paint = (s: string) => {
    if (!o.color) return s;
    const code = s.startsWith('pass') ? 32 : s.startsWith('fail') ? 31 : 33;
    return `\u001b[${code}m${s}\u001b[0m`;
  };
  const comps = table(
    ['component', 'goal', 'n', 'p50', 'p95', 'p99', 'max', 'result'],
    r.components.map((c) => [
      c.name,
      `${fmtMs(c.goalMs)}${c.scaling === 'scaled' ? '*' : ''}`,
      `${c.samples}${c.unrecovered ? ` (${c.unrecovered} unrec.)` : ''}`,
      fmtMs(c.p50Ms),
      fmtMs(c.p95Ms),
      fmtMs(c.p99Ms),
      fmtMs(c.maxMs),
      c.pass === null ? 'no samples' : c.pass ? 'pass' : 'fail',
    ]),
  );
  const scen = table(
    ['scenario', 'status', 'faults', 'problems'],
    r.scenarios.map((s) => {
      const problems = [
        ...s.invariants.filter((i) => i.status !== 'pass').map((i) => `${i.name} ${i.status}`),
        ...s.recoveries.filter((x) => x.pass === false).map((x) => `${x.component} ${x.status === 'unrecovered' ? 'unrecovered' : fmtMs(x.ms)}`),
      ];
      const name = r.scenarios.filter((x) => x.name === s.name).length > 1 ? `${s.name} #${s.repeat + 1}` : s.name;
      return [name, s.status, String(s.faults.length), problems.join(', ')];
    }),
  );
  const colourLast = (lines: string[], col: (l: string) => string) => (o.color ? lines.map((l, i) => (i < 2 ? l : col(l))) : lines);
  const out = [
    `ea-chaos run ${r.runId}: ${paint(r.status)} (seed ${r.seed}, time scale ${r.timeScale})`,
    '',
    ...colourLast(comps, (l) => l.replace(/(pass|fail)$/, (m) => paint(m))),
  ];
  if (r.components.some((c) => c.scaling === 'scaled' && c.factor !== 1)) out.push(`* goal scaled by the time scale (${r.timeScale})`);
  out.push('', ...colourLast(scen, (l) => l.replace(/ (pass|fail|unknown) /, (m) => ` ${paint(m.trim())} `)));
  if (r.seedContradictions.length) out.push('', `seed contradictions: ${r.seedContradictions.map((c) => c.id).join(', ')} (see the report)`);
  if (o.reportPath) out.push('', `report: ${o.reportPath}`);
  return `${out.join('\n')}\n`;
}
