import { fmtMs } from './escape.ts';

export interface ProgressState {
  /** 1-based position of the scenario run and how many there are. */
  index: number;
  total: number;
  scenario: string;
  repeat: number;
  repeats: number;
  /** ms since the scenario started. */
  elapsedMs: number;
  /** Scenario length (workload duration + settle), ms. */
  lengthMs: number;
  faultsInjected: number;
  faultsTotal: number;
  /** The last thing that happened, e.g. "f1.2 udp.impair tick-udp healed". */
  last?: string;
  /** Verdicts of the scenario runs finished so far. */
  done: { pass: number; fail: number; unknown: number };
}

/**
 * One line of live progress for a terminal (stderr), e.g.
 * `[3/12] redis-master-kill #1/3  42% 5.90 s/14.00 s  faults 1/1  pass 2 fail 0 unknown 0  f1.1 process.kill redis-master injected`.
 * A run loop rewrites it in place with `\r` on a TTY and prints it as a line elsewhere.
 */
export function renderProgress(p: ProgressState, width = 120): string {
  const pct = p.lengthMs > 0 ? Math.min(100, Math.floor((p.elapsedMs / p.lengthMs) * 100)) : 0;
  const rep = p.repeats > 1 ? ` #${p.repeat + 1}/${p.repeats}` : '';
  const parts = [
    `[${p.index}/${p.total}] ${p.scenario}${rep}`,
    `${String(pct).padStart(3)}% ${fmtMs(p.elapsedMs)}/${fmtMs(p.lengthMs)}`,
    `faults ${p.faultsInjected}/${p.faultsTotal}`,
    `pass ${p.done.pass} fail ${p.done.fail} unknown ${p.done.unknown}`,
  ];
  if (p.last) parts.push(p.last);
  const line = parts.join('  ');
  return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
}
