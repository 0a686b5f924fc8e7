import type { FaultInstance, ResolvedSchedule } from './scenario/index.ts';
import type { ActiveFault, FaultSpec, Nemesis } from './nemesis.ts';
import type { FaultLog } from './testbed/fault-log.ts';

/** A resolved fault instance as the nemesis takes it. */
export function toFaultSpec(f: FaultInstance): FaultSpec {
  const spec: FaultSpec = { kind: f.kind, target: f.target, params: f.params, id: f.id, offsetMs: f.atMs };
  if (f.durationMs !== null) spec.durationMs = f.durationMs;
  return spec;
}

/**
 * Play a resolved schedule against the testbed: each fault at its offset from
 * `startedAt`, healed after its duration. Faults overlap as the schedule says.
 * A fault that cannot be injected is logged with its error and the run goes
 * on: the report shows it as not injected ("unknown"), never as passed.
 */
export async function playSchedule(nemesis: Nemesis, log: FaultLog, schedule: ResolvedSchedule, startedAt: number, signal?: AbortSignal): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const f of schedule.faults) {
    pending.push(
      (async () => {
        await sleepUntil(startedAt + f.atMs, signal);
        let active: ActiveFault;
        try {
          active = await nemesis.inject(toFaultSpec(f));
        } catch (e) {
          log.failed(f.id, f.kind, f.target, (e as Error).message);
          return;
        }
        if (f.durationMs !== null) {
          await sleepUntil(startedAt + f.atMs + f.durationMs, signal).catch(() => {});
          await active.heal().catch((e: unknown) => log.failed(f.id, f.kind, f.target, `heal failed: ${(e as Error).message}`));
        }
      })(),
    );
  }
  await Promise.all(pending);
}

function sleepUntil(at: number, signal?: AbortSignal): Promise<void> {
  const ms = Math.max(0, at - Date.now());
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}
