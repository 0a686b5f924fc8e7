/** One fault as the nemesis applied it: the reference points recovery is measured from. */
export interface FaultRecord {
  id: string;
  kind: string;
  target: string;
  params?: Record<string, unknown>;
  /** Wall ms when the fault took effect. */
  injectedAt: number;
  /** Wall ms when the heal step completed (absent for faults that are never healed, e.g. a kill the supervisor answers). */
  healedAt?: number;
  /** The scenario offset it was scheduled at, ms. */
  offsetMs?: number;
  /** Why the injection or the heal failed. */
  error?: string;
}

export class FaultLog {
  readonly records: FaultRecord[] = [];
  private n = 0;

  begin(kind: string, target: string, params?: Record<string, unknown>, id?: string): FaultRecord {
    const r: FaultRecord = { id: id ?? `f${++this.n}`, kind, target, injectedAt: Date.now(), ...(params ? { params } : {}) };
    this.records.push(r);
    return r;
  }

  heal(r: FaultRecord): void {
    r.healedAt = Date.now();
  }

  /** A fault that could not be injected or healed: kept, with its error, so it is never taken as passed. */
  failed(id: string, kind: string, target: string, error: string): void {
    const r = this.records.find((x) => x.id === id);
    if (r) r.error = r.error ? `${r.error}; ${error}` : error;
    else this.records.push({ id, kind, target, injectedAt: Number.NaN, error });
  }
}
