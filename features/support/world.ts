import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setWorldConstructor, World, type IWorldOptions } from '@cucumber/cucumber';
import { parseConfig, type Config } from '../../core/config/index.ts';
import { collectHistory } from '../../harness/collect.ts';
import { Nemesis, type FaultSpec } from '../../harness/nemesis.ts';
import { faultEffect, isFaultKind, type FaultInstance } from '../../harness/scenario/index.ts';
import type { FaultRecord } from '../../harness/testbed/fault-log.ts';
import { Testbed } from '../../harness/testbed/testbed.ts';

/** What `ea-chaos run` hands every scenario. */
export interface RunParameters {
  runDir: string;
  runId?: string;
  /** Repeat index under --repeat N. */
  repeat?: number;
  seed: number;
  timeScale: number;
  /** Extra config (a --config file's content). */
  config?: Record<string, unknown>;
}

/** One measured recovery: from a fault's reference point to the runtime event that ends it. */
export interface RecoverySample {
  component: string;
  goalMs: number;
  ms: number;
  /** Whether the goal was compressed by timeScale (policy-driven) or is physical (real time). */
  scaled: boolean;
  fault?: string;
  from: string;
  to: string;
}

export interface InvariantResult {
  name: string;
  status: 'pass' | 'fail' | 'unknown';
  details: string;
}

/**
 * The World owns one testbed per scenario (lab, fault proxy, simulators,
 * supervised runtimes) and what the scenario measured. Steps stay thin: they
 * call the nemesis, wait on events, and record samples and invariants here.
 */
export class ChaosWorld extends World<RunParameters> {
  bed: Testbed | undefined;
  nemesis: Nemesis | undefined;
  config: Config;
  readonly recoveries: RecoverySample[] = [];
  readonly invariants: InvariantResult[] = [];
  readonly notes: string[] = [];
  lastFault: FaultRecord | undefined;
  scenarioName = '';
  scenarioTags: string[] = [];
  scenarioDir = '';
  startedAt = Date.now();
  historyWritten = false;
  /** Values steps pass to later steps (e.g. a pid before a kill). */
  readonly memo = new Map<string, unknown>();

  constructor(options: IWorldOptions<RunParameters>) {
    super(options);
    const p = this.parameters;
    this.config = parseConfig({ ...(p.config ?? {}), seed: p.seed ?? 1, timeScale: p.timeScale ?? 0.05 }, 'run parameters');
  }

  /** Goal of a component in ms (seed §5), from config. */
  goal(key: keyof Config['goals']): number {
    return this.config.goals[key];
  }

  /** A policy duration at the run's time scale. */
  scaled(ms: number): number {
    return Math.max(1, Math.round(ms * this.config.timeScale));
  }

  async startBed(opts: { instances?: number; ordersPerSecond?: number; brokerBackup?: boolean } = {}): Promise<Testbed> {
    if (this.bed) return this.bed;
    this.scenarioDir = join(this.parameters.runDir, 'scenarios', slug(this.scenarioName));
    mkdirSync(this.scenarioDir, { recursive: true });
    this.bed = await Testbed.start({ dir: join(this.scenarioDir, 'bed'), config: this.config, instances: opts.instances ?? 1, ordersPerSecond: opts.ordersPerSecond ?? 5, ...(opts.brokerBackup ? { brokerBackup: true } : {}) });
    this.nemesis = new Nemesis(this.bed);
    return this.bed;
  }

  requireBed(): Testbed {
    if (!this.bed) throw new Error('no testbed: start with "Given the EA runtime is trading"');
    return this.bed;
  }

  /** Faults the steps injected, as schedule entries: a Gherkin scenario's resolved schedule. */
  readonly schedule: FaultInstance[] = [];

  /**
   * Inject a fault and record it in the schedule. `measure: []` records it without
   * measuring a recovery (a kill the supervisor is expected to refuse to answer);
   * `reference: 'heal'` measures from the heal where no failover is possible.
   */
  async inject(spec: FaultSpec & { measure?: FaultInstance['components']; reference?: FaultInstance['reference'] }) {
    const index = this.schedule.length;
    const id = spec.id ?? `f${index + 1}.1`;
    const { measure: _measure, reference: _reference, ...nemesisSpec } = spec;
    const active = await this.nemesis!.inject({ ...nemesisSpec, id });
    this.lastFault = active.record;
    if (isFaultKind(spec.kind)) {
      const effect = faultEffect(spec.kind, spec.target, spec.params);
      this.schedule.push({
        id,
        faultIndex: index,
        repeatIndex: 0,
        atMs: Math.max(0, active.record.injectedAt - this.startedAt),
        kind: spec.kind,
        target: spec.target,
        durationMs: null,
        params: spec.params ?? {},
        components: spec.measure ?? effect.components,
        reference: spec.reference ?? effect.reference,
      });
    }
    return active;
  }

  recordRecovery(s: RecoverySample): void {
    this.recoveries.push(s);
    this.attach(`${s.component}: ${s.ms} ms (goal ${s.goalMs} ms${s.scaled ? ', scaled' : ''}) ${s.from} -> ${s.to}`, 'text/plain');
  }

  recordInvariant(r: InvariantResult): void {
    this.invariants.push(r);
  }

  /** The scenario's history (what the report and the checkers read), written next to its result. */
  async writeHistory(): Promise<void> {
    // Once per scenario: a step that judges the recorded history itself writes it before the After hook.
    if (!this.bed || !this.scenarioDir || this.historyWritten) return;
    this.historyWritten = true;
    for (const f of this.schedule) {
      const r = this.bed.faultLog.records.find((x) => x.id === f.id);
      if (r?.healedAt) f.durationMs = Math.max(1, r.healedAt - r.injectedAt);
    }
    const endMs = Math.max(0, ...this.schedule.map((f) => f.atMs + (f.durationMs ?? 0)));
    const history = await collectHistory(this.bed, {
      runId: this.parameters.runId ?? 'adhoc',
      scenario: slug(this.scenarioName),
      repeat: this.parameters.repeat ?? 0,
      schedule: { scenario: slug(this.scenarioName), seed: this.config.seed, faults: this.schedule, endMs },
      startedAt: this.startedAt,
    });
    writeFileSync(join(this.scenarioDir, 'history.json'), JSON.stringify(history));
    writeFileSync(join(this.scenarioDir, 'meta.json'), JSON.stringify({ scenario: history.scenario, title: this.scenarioName, tags: this.scenarioTags }));
  }

  writeResult(status: string, error?: string): void {
    if (!this.scenarioDir) return;
    const bed = this.bed;
    const result = {
      name: this.scenarioName,
      status,
      error,
      seed: this.config.seed,
      timeScale: this.config.timeScale,
      startedAt: this.startedAt,
      finishedAt: Date.now(),
      faults: bed?.faultLog.records ?? [],
      recoveries: this.recoveries,
      invariants: this.invariants,
      notes: this.notes,
      alerts: bed?.alerts.alerts ?? [],
      versions: bed?.lab.info.versions ?? {},
    };
    writeFileSync(join(this.scenarioDir, 'result.json'), JSON.stringify(result, null, 2));
    if (bed) writeFileSync(join(this.scenarioDir, 'events.json'), JSON.stringify(bed.events()));
  }
}

export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80) || 'scenario';
}

setWorldConstructor(ChaosWorld);
