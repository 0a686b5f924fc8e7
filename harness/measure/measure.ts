import type { RunHistory } from '../history/schema.ts';
import type { FaultInstance } from '../scenario/resolve.ts';
import type { ComponentId } from '../scenario/vocabulary.ts';
import { DISRUPTION_EVENTS, RECOVERY_EVENTS, belongsToTarget, instanceOf, matches, type EventLike } from './mapping.ts';

export type SampleStatus =
  /** A recovery event was found; `ms` is the recovery time. */
  | 'recovered'
  /** The component was hit (or must ride through) and no recovery event followed: counts against the goal. */
  | 'unrecovered'
  /** A heal-referenced fault left no trace on the component (nothing to recover, e.g. no order was waiting). */
  | 'unaffected'
  /** The fault was never injected (its injection failed or the run ended first). */
  | 'not_injected';

export interface RecoverySample {
  scenario: string;
  repeat: number;
  faultId: string;
  kind: string;
  target: string;
  component: ComponentId;
  reference: 'injection' | 'heal';
  /** Wall ms the clock started from. */
  referenceAt: number | null;
  recoveredAt: number | null;
  ms: number | null;
  status: SampleStatus;
  /** The event that ended the recovery (the slowest instance's, when several were hit). */
  event?: string;
  /** Per-instance recovery times when more than one runtime was hit. */
  instances?: { instance: string; ms: number | null }[];
}

interface Window {
  from: number;
  to: number;
}

function recoveryEvents(events: readonly EventLike[], c: ComponentId, f: FaultInstance, from: number, win: Window): EventLike[] {
  const parked = c === 'clickhouse' && events.some((e) => e.type === 'sync.parked' && e.ts >= win.from && e.ts <= win.to);
  return events.filter((e) => {
    if (e.ts < from || e.ts > win.to) return false;
    if (!belongsToTarget(e, f.target)) return false;
    // A parked batch is only synced once failed_syncs is drained; ClickHouse answering is not enough.
    if (parked) return e.type === 'sync.drained';
    return matches(RECOVERY_EVENTS[c], e);
  });
}

/**
 * Recovery samples for one history: one per (fault instance, component it disturbs).
 * The search window for a fault ends where the next fault on the same component
 * begins, so a later fault's events are never credited to an earlier one.
 */
export function measureRecoveries(history: RunHistory): RecoverySample[] {
  const events = [...history.events].sort((a, b) => a.ts - b.ts || a.seq - b.seq);
  const log = new Map(history.faultLog.map((l) => [l.id, l]));
  const samples: RecoverySample[] = [];
  const faults = history.schedule.faults;
  for (const f of faults) {
    for (const c of f.components) {
      const entry = log.get(f.id);
      const base: Omit<RecoverySample, 'referenceAt' | 'recoveredAt' | 'ms' | 'status'> = {
        scenario: history.scenario,
        repeat: history.repeat,
        faultId: f.id,
        kind: f.kind,
        target: f.target,
        component: c,
        reference: f.reference,
      };
      if (!entry || entry.injectedAt === null) {
        samples.push({ ...base, referenceAt: null, recoveredAt: null, ms: null, status: 'not_injected' });
        continue;
      }
      const injectedAt = entry.injectedAt;
      // A heal-referenced fault without a heal step is measured from its injection.
      const ref = f.reference === 'heal' ? (entry.healedAt ?? injectedAt) : injectedAt;
      const next = faults
        .filter((g) => g !== f && g.components.includes(c))
        .map((g) => log.get(g.id)?.injectedAt)
        .filter((t): t is number => typeof t === 'number' && t > injectedAt);
      const win: Window = { from: injectedAt, to: next.reduce((m, t) => Math.min(m, t), Math.max(history.endedAt, ref)) };
      const candidates = recoveryEvents(events, c, f, ref, win);
      const mine = events.filter((e) => e.ts >= win.from && e.ts <= win.to && belongsToTarget(e, f.target));
      const touched = new Set(mine.filter((e) => matches(DISRUPTION_EVENTS[c], e)).map(instanceOf));
      // An instance that was hit but already back before a heal-referenced fault healed
      // (e.g. a fill between two broker rejects) has nothing left to recover at the heal.
      const hit = new Set(
        [...touched].filter((inst) => {
          const own = mine.filter((e) => instanceOf(e) === inst);
          if (own.some((e) => e.ts > ref && matches(DISRUPTION_EVENTS[c], e))) return true;
          const last = (list: Parameters<typeof matches>[0]) => own.reduce((m, e) => (e.ts <= ref && matches(list, e) && e.ts > m ? e.ts : m), -Infinity);
          const lastDis = last(DISRUPTION_EVENTS[c]);
          const lastRec = last(RECOVERY_EVENTS[c]);
          return lastDis > -Infinity && lastRec < lastDis;
        }),
      );
      if (hit.size === 0 && touched.size > 0) {
        samples.push({ ...base, referenceAt: ref, recoveredAt: null, ms: null, status: 'unaffected' });
        continue;
      }
      if (hit.size === 0) {
        const first = candidates[0];
        if (first) samples.push({ ...base, referenceAt: ref, recoveredAt: first.ts, ms: first.ts - ref, status: 'recovered', event: first.type });
        // Silence is a failure only for the fault's primary (first-listed) component of a
        // ride-through fault: a UDP path that died unnoticed is a bug, a session that never
        // felt a quick failover is not.
        else if (f.reference === 'injection' && f.components[0] === c) samples.push({ ...base, referenceAt: ref, recoveredAt: null, ms: null, status: 'unrecovered' });
        else samples.push({ ...base, referenceAt: ref, recoveredAt: null, ms: null, status: 'unaffected' });
        continue;
      }
      const per = [...hit].sort().map((inst) => {
        // Events without an instance (a single runtime, or the harness's own probes) match any instance.
        const ev = candidates.find((e) => inst === '' || instanceOf(e) === inst || instanceOf(e) === '');
        return { instance: inst, ev };
      });
      const missing = per.some((p) => !p.ev);
      const slowest = per.reduce<EventLike | undefined>((m, p) => (p.ev && (!m || p.ev.ts > m.ts) ? p.ev : m), undefined);
      const sample: RecoverySample = missing || !slowest
        ? { ...base, referenceAt: ref, recoveredAt: null, ms: null, status: 'unrecovered' }
        : { ...base, referenceAt: ref, recoveredAt: slowest.ts, ms: slowest.ts - ref, status: 'recovered', event: slowest.type };
      if (per.length > 1) sample.instances = per.map((p) => ({ instance: p.instance, ms: p.ev ? p.ev.ts - ref : null }));
      samples.push(sample);
    }
  }
  return samples;
}
