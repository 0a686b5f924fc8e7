import { z } from 'zod';
import { createRandom } from '../../core/random.ts';
import type { Scenario } from './load.ts';
import { COMPONENT_IDS, FAULT_KINDS, faultEffect } from './vocabulary.ts';

/**
 * One concrete fault of a run: what `ea-chaos run` injects and records, and
 * what `replay` plays back verbatim (it never re-resolves a scenario).
 */
export const FaultInstanceSchema = z.strictObject({
  /** Stable within a schedule: `f<fault index + 1>.<repeat + 1>`, e.g. `f3.2`. */
  id: z.string().min(1),
  faultIndex: z.number().int().nonnegative(),
  repeatIndex: z.number().int().nonnegative(),
  /** Offset from the start of the scenario, ms. */
  atMs: z.number().int().nonnegative(),
  kind: z.enum(FAULT_KINDS),
  target: z.string().min(1),
  /** ms until the heal step; null when the fault has none. */
  durationMs: z.number().int().positive().nullable(),
  params: z.record(z.string(), z.unknown()),
  components: z.array(z.enum(COMPONENT_IDS)),
  reference: z.enum(['injection', 'heal']),
  note: z.string().optional(),
});
export type FaultInstance = z.infer<typeof FaultInstanceSchema>;

export const ResolvedScheduleSchema = z.strictObject({
  scenario: z.string(),
  seed: z.number().int().nonnegative(),
  faults: z.array(FaultInstanceSchema),
  /** When the last fault is healed (or injected, for faults without a heal), ms from the start. */
  endMs: z.number().int().nonnegative(),
});
export type ResolvedSchedule = z.infer<typeof ResolvedScheduleSchema>;

/**
 * Expand repeats and jitter into a flat, time-ordered list. Jitter is drawn from
 * `seed` with one forked stream per fault, so adding a fault to a scenario does
 * not move the others.
 */
export function resolveSchedule(scenario: Scenario, seed: number): ResolvedSchedule {
  const random = createRandom(seed).fork(`scenario:${scenario.name}`);
  const faults: FaultInstance[] = [];
  scenario.faults.forEach((f, i) => {
    const stream = random.fork(`fault-${i}`);
    const count = f.repeat?.count ?? 1;
    const derived = faultEffect(f.kind, f.target, f.params);
    const effect = { components: f.measure ?? derived.components, reference: f.reference ?? derived.reference };
    for (let k = 0; k < count; k++) {
      const jitter = f.jitter > 0 ? stream.int(0, f.jitter) : 0;
      const inst: FaultInstance = {
        id: `f${i + 1}.${k + 1}`,
        faultIndex: i,
        repeatIndex: k,
        atMs: f.at + k * (f.repeat?.every ?? 0) + jitter,
        kind: f.kind,
        target: f.target,
        durationMs: f.duration,
        params: structuredClone(f.params),
        components: [...effect.components],
        reference: effect.reference,
      };
      if (f.note !== undefined) inst.note = f.note;
      faults.push(inst);
    }
  });
  faults.sort((a, b) => a.atMs - b.atMs || a.faultIndex - b.faultIndex || a.repeatIndex - b.repeatIndex);
  const endMs = faults.reduce((m, f) => Math.max(m, f.atMs + (f.durationMs ?? 0)), 0);
  return { scenario: scenario.name, seed: seed >>> 0, faults, endMs };
}
