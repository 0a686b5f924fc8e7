import { escapeHtml as h, fmtMs } from './escape.ts';
import type { RunReport, ScenarioResult } from './schema.ts';

type Component = RunReport['components'][number];

const COLORS = { pass: '#1a7f37', fail: '#cf222e', unknown: '#9a6700', none: '#6e7781' };
const KIND_COLORS: Record<string, string> = {
  'process.kill': '#cf222e',
  'process.pause': '#bc4c00',
  'process.stop': '#953800',
  'network.toxic': '#8250df',
  'network.down': '#6639ba',
  'udp.impair': '#0969da',
  'broker.knob': '#1f6feb',
  'file.corrupt': '#bf3989',
};

const badge = (status: string) => {
  const c = status === 'pass' ? COLORS.pass : status === 'fail' ? COLORS.fail : status === 'unknown' ? COLORS.unknown : COLORS.none;
  return `<span class="badge" style="background:${c}">${h(status)}</span>`;
};
const passText = (p: boolean | null) => badge(p === null ? 'no samples' : p ? 'pass' : 'fail');

/** 0, nice steps, up to `max`: axis ticks. */
function ticks(max: number, n = 5): number[] {
  if (max <= 0) return [0];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Math.round(v * 1000) / 1000);
  return out;
}

/**
 * One chart per component: a histogram of recovery times with every sample as
 * a dot below it, the goal as a red dashed line and p99 as a dotted one.
 */
export function componentChart(c: Component): string {
  const W = 640;
  const H = 170;
  const L = 44;
  const R = 16;
  const top = 22;
  const plotH = 86;
  const base = top + plotH;
  const xMax = Math.max(c.goalMs * 1.25, (c.maxMs ?? 0) * 1.1, 1);
  const x = (v: number) => L + (v / xMax) * (W - L - R);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${h(`${c.name} recovery times against the ${fmtMs(c.goalMs)} goal`)}">`);
  parts.push(`<rect x="${L}" y="${top}" width="${W - L - R}" height="${plotH}" fill="#f6f8fa"/>`);
  const bins = 24;
  const counts = new Array<number>(bins).fill(0);
  for (const v of c.sampleMs) counts[Math.min(bins - 1, Math.floor((v / xMax) * bins))]!++;
  const maxCount = Math.max(1, ...counts);
  const bw = (W - L - R) / bins;
  counts.forEach((n, i) => {
    if (n === 0) return;
    const bh = (n / maxCount) * (plotH - 8);
    const mid = ((i + 0.5) / bins) * xMax;
    parts.push(`<rect x="${(L + i * bw + 1).toFixed(1)}" y="${(base - bh).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="${mid <= c.goalMs ? '#54aeff' : '#ff8182'}"><title>${n} sample(s) near ${h(fmtMs(mid))}</title></rect>`);
  });
  c.sampleMs.forEach((v, i) => {
    const y = base + 10 + (i % 4) * 4;
    parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${y}" r="2.2" fill="${v <= c.goalMs ? '#0969da' : '#cf222e'}"><title>${h(fmtMs(v))}</title></circle>`);
  });
  for (const t of ticks(xMax)) {
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="${base + 26}" x2="${x(t).toFixed(1)}" y2="${base + 30}" stroke="#57606a"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${base + 42}" font-size="10" text-anchor="middle" fill="#57606a">${h(fmtMs(t))}</text>`);
  }
  parts.push(`<line x1="${L}" y1="${base + 26}" x2="${W - R}" y2="${base + 26}" stroke="#57606a"/>`);
  parts.push(`<line x1="${x(c.goalMs).toFixed(1)}" y1="${top - 18}" x2="${x(c.goalMs).toFixed(1)}" y2="${base + 26}" stroke="#cf222e" stroke-width="2" stroke-dasharray="6 3"/>`);
  parts.push(`<text x="${(x(c.goalMs) + 4).toFixed(1)}" y="${top - 8}" font-size="11" fill="#cf222e">goal ${h(fmtMs(c.goalMs))}</text>`);
  if (c.p99Ms !== null) {
    parts.push(`<line x1="${x(c.p99Ms).toFixed(1)}" y1="${top}" x2="${x(c.p99Ms).toFixed(1)}" y2="${base}" stroke="#24292f" stroke-width="1.5" stroke-dasharray="2 2"/>`);
    parts.push(`<text x="${(x(c.p99Ms) - 4).toFixed(1)}" y="${top + 16}" font-size="11" text-anchor="end" fill="#24292f">p99 ${h(fmtMs(c.p99Ms))}</text>`);
  }
  if (c.sampleMs.length === 0) {
    parts.push(`<text x="${W / 2}" y="${top + plotH / 2}" font-size="13" text-anchor="middle" fill="#6e7781">${c.unrecovered > 0 ? `${c.unrecovered} fault(s), no recovery observed` : 'no samples in this run'}</text>`);
  }
  parts.push(`<text x="4" y="${top + 10}" font-size="10" fill="#57606a">count</text>`);
  parts.push('</svg>');
  return parts.join('');
}

/** A scenario's faults (bars from injection to heal) and recoveries (reference → recovery) on one time axis. */
export function scenarioTimeline(s: ScenarioResult): string {
  const W = 900;
  const L = 230;
  const R = 20;
  const rowH = 22;
  const rows = s.faults.length + s.recoveries.filter((r) => r.referenceAt !== null).length;
  const H = 40 + Math.max(1, rows) * rowH;
  const span = Math.max(1, s.endedAt - s.startedAt);
  const x = (t: number) => L + (Math.min(Math.max(t - s.startedAt, 0), span) / span) * (W - L - R);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${h(`timeline of ${s.name}`)}">`];
  let y = 10;
  for (const f of s.faults) {
    const color = KIND_COLORS[f.kind] ?? '#57606a';
    parts.push(`<text x="4" y="${y + 13}" font-size="11" fill="#24292f">${h(`${f.id} ${f.kind} ${f.target}`)}</text>`);
    if (f.injectedAt === null) {
      parts.push(`<text x="${L}" y="${y + 13}" font-size="11" fill="${COLORS.unknown}">not injected${f.error ? `: ${h(f.error)}` : ''}</text>`);
    } else {
      const x1 = x(f.injectedAt);
      const x2 = f.healedAt === null ? x1 + 3 : Math.max(x(f.healedAt), x1 + 3);
      parts.push(`<rect x="${x1.toFixed(1)}" y="${y + 3}" width="${(x2 - x1).toFixed(1)}" height="${rowH - 8}" rx="2" fill="${color}"><title>${h(`${f.kind} ${f.target}: injected +${fmtMs(f.injectedAt - s.startedAt)}${f.healedAt === null ? ', no heal step' : `, healed +${fmtMs(f.healedAt - s.startedAt)}`}`)}</title></rect>`);
    }
    y += rowH;
  }
  for (const r of s.recoveries) {
    if (r.referenceAt === null) continue;
    const ok = r.pass !== false;
    const color = r.status === 'unaffected' ? COLORS.none : ok ? COLORS.pass : COLORS.fail;
    parts.push(`<text x="14" y="${y + 13}" font-size="11" fill="${color}">${h(`↳ ${r.component} (${r.faultId}, from ${r.reference})`)}</text>`);
    const x1 = x(r.referenceAt);
    const end = r.recoveredAt ?? s.endedAt;
    const x2 = Math.max(x(end), x1 + 2);
    parts.push(`<line x1="${x1.toFixed(1)}" y1="${y + 11}" x2="${x2.toFixed(1)}" y2="${y + 11}" stroke="${color}" stroke-width="3"${r.recoveredAt === null ? ' stroke-dasharray="4 3"' : ''}/>`);
    if (r.recoveredAt !== null) parts.push(`<circle cx="${x2.toFixed(1)}" cy="${y + 11}" r="4" fill="${color}"/>`);
    const label = r.status === 'recovered' ? `${fmtMs(r.ms)} (goal ${fmtMs(r.goalMs)})${r.event ? ` ${r.event}` : ''}` : r.status;
    parts.push(`<text x="${Math.min(x2 + 8, W - R - 150).toFixed(1)}" y="${y + 8}" font-size="10" fill="${color}">${h(label)}</text>`);
    y += rowH;
  }
  for (const t of ticks(span, 8)) {
    const xx = L + (t / span) * (W - L - R);
    parts.push(`<line x1="${xx.toFixed(1)}" y1="6" x2="${xx.toFixed(1)}" y2="${y + 2}" stroke="#d0d7de" stroke-width="0.5"/>`);
    parts.push(`<text x="${xx.toFixed(1)}" y="${y + 16}" font-size="10" text-anchor="middle" fill="#57606a">+${h(fmtMs(t))}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

function json(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** The self-contained report.html: inline CSS and SVG, no scripts or external assets. */
export function renderHtml(r: RunReport): string {
  const compRows = r.components
    .map(
      (c) =>
        `<tr><td>${h(c.name)}</td><td>${h(fmtMs(c.goalMs))}${c.scaling === 'scaled' ? ` <span class="muted">(${h(fmtMs(c.seedGoalMs))} × ${c.factor})</span>` : ''}</td><td>${c.samples}${c.unrecovered ? ` <span class="bad">(${c.unrecovered} unrecovered)</span>` : ''}</td><td>${h(fmtMs(c.p50Ms))}</td><td>${h(fmtMs(c.p95Ms))}</td><td>${h(fmtMs(c.p99Ms))}</td><td>${h(fmtMs(c.maxMs))}</td><td>${passText(c.pass)}</td></tr>`,
    )
    .join('\n');
  const scaling = r.goalScaling
    .map((g) => `<tr><td>${h(g.name)}</td><td>${h(g.scaling)}</td><td>${h(fmtMs(g.seedGoalMs))}</td><td>× ${g.factor}</td><td>${h(fmtMs(g.goalMs))}</td></tr>`)
    .join('\n');
  const contradictions = r.seedContradictions
    .map((n) => `<li><b>${h(n.id)}</b> (${h(n.component)}): ${h(n.seed)} vs ${h(n.goal)} — ${h(n.conflict)}.<br><i>What the runtime does:</i> ${h(n.resolution)}.${n.observed ? `<br><i>Observed in this run:</i> ${h(n.observed)}.` : ''}</li>`)
    .join('\n');
  const charts = r.components
    .map((c) => `<figure><figcaption>${h(c.name)} — ${c.samples} sample(s), goal ${h(fmtMs(c.goalMs))} ${passText(c.pass)}</figcaption>${componentChart(c)}</figure>`)
    .join('\n');
  const scen = r.scenarios
    .map((s) => {
      const inv = s.invariants
        .map(
          (i) =>
            `<tr><td>${h(i.name)}</td><td>${badge(i.status)}</td><td>${h(i.details)}${i.counterexamples.length ? `<details><summary>${i.counterexamples.length} counterexample(s)</summary><pre>${h(i.counterexamples.map(json).join('\n'))}</pre></details>` : ''}</td></tr>`,
        )
        .join('\n');
      const rec = s.recoveries
        .map(
          (x) =>
            `<tr><td>${h(x.faultId)}</td><td>${h(`${x.kind} ${x.target}`)}</td><td>${h(x.component)}</td><td>${h(x.reference)}</td><td>${h(x.status)}</td><td>${h(fmtMs(x.ms))}</td><td>${h(fmtMs(x.goalMs))}</td><td>${x.pass === null ? '–' : badge(x.pass ? 'pass' : 'fail')}</td><td>${h(x.event ?? '')}</td></tr>`,
        )
        .join('\n');
      const title = `${s.name}${r.scenarios.filter((o) => o.name === s.name).length > 1 ? ` #${s.repeat + 1}` : ''}`;
      return `<section class="scenario" id="${h(`s-${s.name}-${s.repeat}`)}">
<h3>${h(title)} ${badge(s.status)}</h3>
${s.description ? `<p>${h(s.description)}</p>` : ''}
<p class="muted">seed ${s.seed} · time scale ${s.timeScale} · ${h(fmtMs(s.endedAt - s.startedAt))}${s.tags?.length ? ` · ${h(s.tags.join(' '))}` : ''}${s.history ? ` · history <code>${h(s.history)}</code>` : ''}</p>
${scenarioTimeline(s)}
<table><thead><tr><th>invariant</th><th>status</th><th>details</th></tr></thead><tbody>${inv || '<tr><td colspan="3">none checked</td></tr>'}</tbody></table>
<table><thead><tr><th>fault</th><th>what</th><th>component</th><th>from</th><th>status</th><th>recovery</th><th>goal</th><th>result</th><th>event</th></tr></thead><tbody>${rec || '<tr><td colspan="9">no component measured</td></tr>'}</tbody></table>
</section>`;
    })
    .join('\n');
  const kv = (o: Record<string, unknown>) =>
    Object.entries(o)
      .map(([k, v]) => `<tr><td>${h(k)}</td><td>${h(typeof v === 'string' ? v : json(v))}</td></tr>`)
      .join('\n') || '<tr><td colspan="2">not recorded</td></tr>';
  const counts = { pass: 0, fail: 0, unknown: 0 };
  for (const s of r.scenarios) counts[s.status]++;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(`ea-chaos recovery report ${r.runId} — ${r.status}`)}</title>
<style>
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#24292f;margin:0 auto;padding:20px 28px;max-width:980px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0 12px;width:100%}th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}th{background:#f6f8fa}
.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;white-space:nowrap}
.muted{color:#57606a}.bad{color:#cf222e}figure{margin:10px 0 16px}figcaption{font-weight:600;margin-bottom:4px}
.scenario{border-top:1px dashed #d0d7de;margin-top:14px}pre{white-space:pre-wrap;font-size:12px;background:#f6f8fa;padding:6px}svg{max-width:100%;height:auto;display:block}
</style>
</head>
<body>
<h1>ea-chaos recovery report ${badge(r.status)}</h1>
<p class="muted">run <code>${h(r.runId)}</code> · ${h(r.createdAt)} · seed ${r.seed} · time scale ${r.timeScale} · ${r.scenarios.length} scenario run(s): ${counts.pass} pass, ${counts.fail} fail, ${counts.unknown} unknown · ${h(fmtMs(r.durationMs))}</p>
<h2>Recovery goals (seed §5)</h2>
<p class="muted">Pass = p99 (nearest rank) within the goal and no fault left unrecovered. Below 100 samples p99 is the maximum.</p>
<table><thead><tr><th>component</th><th>goal</th><th>samples</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>result</th></tr></thead><tbody>
${compRows}
</tbody></table>
<h2>Recovery-time distributions</h2>
${charts}
<h2>Time scale</h2>
<p class="muted">Policy intervals were multiplied by ${r.timeScale}. Goals of policy-driven recoveries are scaled by the same factor; physical recoveries are judged against the real goal.</p>
<table><thead><tr><th>component</th><th>recovery is</th><th>seed goal</th><th>factor</th><th>judged against</th></tr></thead><tbody>
${scaling}
</tbody></table>
<h2>Where the seed contradicts itself</h2>
${contradictions ? `<ul>${contradictions}</ul>` : '<p>None with this configuration.</p>'}
<h2>Scenarios</h2>
${scen || '<p>No scenario ran.</p>'}
<h2>Environment</h2>
<table><tbody>${kv(r.environment)}</tbody></table>
<h2>Service versions</h2>
<table><tbody>${kv(r.versions)}</tbody></table>
</body>
</html>
`;
}
