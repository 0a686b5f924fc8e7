import { platform, release, cpus } from 'node:os';
import type { RuntimeEvent } from '../core/events.ts';
import { finalStatesFromEvents, intentsFromEvents, parseHistory, type RunHistory } from './history/index.ts';
import type { ResolvedSchedule } from './scenario/index.ts';
import type { Testbed } from './testbed/testbed.ts';

export interface CollectOptions {
  runId: string;
  scenario: string;
  repeat: number;
  schedule: ResolvedSchedule;
  startedAt: number;
}

/**
 * Read everything the checkers and the measurement need out of a live testbed
 * into one history document. Whatever cannot be read is recorded as null, so
 * the checkers that need it answer "unknown".
 */
export async function collectHistory(bed: Testbed, o: CollectOptions): Promise<RunHistory> {
  const n = bed.supervisor?.status().length ?? 0;
  const finals: { clientId: string; state: string; instance?: string }[] = [];
  const positions: { ticket: number; status?: string; orphan?: boolean; instance?: string }[] = [];
  let runtimesRead = true;
  // Runtimes before the ledger: a fill a runtime reports is already in the ledger.
  for (let i = 0; i < n; i++) {
    try {
      const st = await bed.getJson<{ instance: string; orders: { clientId: string; state: string }[]; positions: { ticket?: number; status?: string; orphan?: boolean }[] }>(`${bed.runtimeUrl(i)}/state?orders=1`);
      for (const ord of st.orders ?? []) finals.push({ clientId: ord.clientId, state: ord.state, instance: st.instance });
      for (const p of st.positions ?? []) if (typeof p.ticket === 'number') positions.push({ ticket: p.ticket, ...(p.status ? { status: p.status } : {}), ...(p.orphan !== undefined ? { orphan: p.orphan } : {}), instance: st.instance });
    } catch {
      runtimesRead = false;
    }
  }
  let ledger: RunHistory['ledger'] = null;
  try {
    ledger = await bed.getJson<NonNullable<RunHistory['ledger']>>(bed.brokerAdmin('/ledger'));
  } catch {
    ledger = null;
  }
  const events = bed.events().map(({ source, pid, receivedAt, ...e }) => ({ ...e, instance: e.instance ?? source })) as RuntimeEvent[];
  const fromEvents = finalStatesFromEvents(events);
  const doc = {
    schema: 'ea-chaos/history@1',
    runId: o.runId,
    scenario: o.scenario,
    repeat: o.repeat,
    seed: bed.config.seed,
    timeScale: bed.config.timeScale,
    startedAt: o.startedAt,
    endedAt: Date.now(),
    schedule: o.schedule,
    faultLog: bed.faultLog.records.map((r) => ({
      id: r.id,
      kind: r.kind,
      target: r.target,
      injectedAt: Number.isFinite(r.injectedAt) ? r.injectedAt : null,
      healedAt: r.healedAt ?? null,
      ...(r.error ? { error: r.error } : {}),
      ...(r.params ? { params: r.params } : {}),
      ...(r.offsetMs !== undefined ? { offsetMs: r.offsetMs } : {}),
    })),
    events,
    magic: Array.from({ length: n }, (_, i) => 7000 + i),
    ledger,
    orders: { intents: intentsFromEvents(events), final: runtimesRead ? finals : fromEvents.length ? null : null },
    positions: runtimesRead ? positions : null,
    ticks: null,
    stores: null,
    versions: { ...bed.lab.info.versions, node: process.version },
    environment: { platform: platform(), release: release(), cpus: cpus().length, provider: bed.lab.info.provider },
  };
  return parseHistory(doc, `history of ${o.scenario}`);
}
