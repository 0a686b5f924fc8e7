import { z } from 'zod';
import { CHECK_NAMES, COMPONENT_IDS } from '../harness/scenario/vocabulary.ts';

/**
 * `report.json`, documented field by field in docs/reports.md. Readers
 * (`ea-chaos report`, `ea-chaos gate`) validate it with this schema, so a
 * hand-edited or truncated file fails with the path of the bad field.
 */
export const REPORT_SCHEMA_ID = 'ea-chaos/report@1';

const ms = z.number().finite();
const status = z.enum(['pass', 'fail', 'unknown']);

export const ComponentReportSchema = z.strictObject({
  id: z.enum(COMPONENT_IDS),
  name: z.string(),
  goalMs: ms,
  seedGoalMs: ms,
  scaling: z.enum(['scaled', 'physical']),
  factor: z.number().positive(),
  samples: z.number().int().nonnegative(),
  unrecovered: z.number().int().nonnegative(),
  sampleMs: z.array(ms),
  p50Ms: ms.nullable(),
  p95Ms: ms.nullable(),
  p99Ms: ms.nullable(),
  maxMs: ms.nullable(),
  pass: z.boolean().nullable(),
});

export const RecoverySchema = z.strictObject({
  scenario: z.string(),
  repeat: z.number().int().nonnegative(),
  faultId: z.string(),
  kind: z.string(),
  target: z.string(),
  component: z.enum(COMPONENT_IDS),
  reference: z.enum(['injection', 'heal']),
  referenceAt: ms.nullable(),
  recoveredAt: ms.nullable(),
  ms: ms.nullable(),
  status: z.enum(['recovered', 'unrecovered', 'unaffected', 'not_injected']),
  event: z.string().optional(),
  instances: z.array(z.strictObject({ instance: z.string(), ms: ms.nullable() })).optional(),
  goalMs: ms,
  /** Within the goal; null when the sample is not judged (unaffected, not injected). */
  pass: z.boolean().nullable(),
});
export type Recovery = z.infer<typeof RecoverySchema>;

export const ScenarioFaultSchema = z.strictObject({
  id: z.string(),
  kind: z.string(),
  target: z.string(),
  atMs: ms,
  durationMs: ms.nullable(),
  components: z.array(z.enum(COMPONENT_IDS)),
  reference: z.enum(['injection', 'heal']),
  injectedAt: ms.nullable(),
  healedAt: ms.nullable(),
  error: z.string().optional(),
});

export const InvariantSchema = z.strictObject({
  name: z.enum(CHECK_NAMES),
  status,
  details: z.string(),
  counterexamples: z.array(z.unknown()),
});

export const ScenarioResultSchema = z.strictObject({
  name: z.string(),
  repeat: z.number().int().nonnegative(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  status,
  seed: z.number().int().nonnegative(),
  timeScale: z.number().positive(),
  startedAt: ms,
  endedAt: ms,
  faults: z.array(ScenarioFaultSchema),
  recoveries: z.array(RecoverySchema),
  invariants: z.array(InvariantSchema),
  /** History file of this scenario run, relative to the run directory. */
  history: z.string().optional(),
});
export type ScenarioResult = z.infer<typeof ScenarioResultSchema>;

export const SeedContradictionSchema = z.strictObject({
  id: z.string(),
  component: z.enum(COMPONENT_IDS),
  seed: z.string(),
  goal: z.string(),
  conflict: z.string(),
  resolution: z.string(),
  configKeys: z.array(z.string()),
  /** What the recorded events show the runtime did about it, when they show anything. */
  observed: z.string().optional(),
});

export const RunReportSchema = z.strictObject({
  schema: z.literal(REPORT_SCHEMA_ID),
  runId: z.string().min(1),
  createdAt: z.string(),
  status,
  seed: z.number().int().nonnegative(),
  timeScale: z.number().positive(),
  /** Wall ms from the first scenario's start to the last one's end. */
  durationMs: ms,
  /** Which goals were compressed by timeScale, and by how much. */
  goalScaling: z.array(
    z.strictObject({ component: z.enum(COMPONENT_IDS), name: z.string(), scaling: z.enum(['scaled', 'physical']), factor: z.number().positive(), seedGoalMs: ms, goalMs: ms }),
  ),
  components: z.array(ComponentReportSchema),
  scenarios: z.array(ScenarioResultSchema),
  seedContradictions: z.array(SeedContradictionSchema),
  environment: z.record(z.string(), z.unknown()),
  versions: z.record(z.string(), z.string()),
});
export type RunReport = z.infer<typeof RunReportSchema>;
