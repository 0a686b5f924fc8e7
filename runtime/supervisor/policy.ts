/**
 * Seed §3.6 restart policy, pure so it can be tested on numbers alone: restart
 * at once after a crash, keep consecutive restarts `restartIntervalMs` apart,
 * and give up once `maxRestartAttempts` restarts already happened inside the
 * `cooldownMs` window (so the 4th crash inside 30 s stops the instance).
 */
export interface RestartPolicyConfig {
  restartIntervalMs: number;
  maxRestartAttempts: number;
  cooldownMs: number;
}

export type RestartDecision = { action: 'restart'; delayMs: number; restartsInWindow: number } | { action: 'give_up'; restartsInWindow: number };

export class RestartPolicy {
  private restarts: number[] = [];

  constructor(private readonly cfg: RestartPolicyConfig) {}

  private window(now: number): number[] {
    this.restarts = this.restarts.filter((t) => now - t < this.cfg.cooldownMs);
    return this.restarts;
  }

  /** What to do about an exit at `now`. */
  onExit(now: number): RestartDecision {
    const w = this.window(now);
    if (w.length >= this.cfg.maxRestartAttempts) return { action: 'give_up', restartsInWindow: w.length };
    const last = w[w.length - 1];
    const delayMs = last === undefined ? 0 : Math.max(0, last + this.cfg.restartIntervalMs - now);
    return { action: 'restart', delayMs, restartsInWindow: w.length };
  }

  /** Record that a restart was started at `now`. */
  recordRestart(now: number): void {
    this.restarts.push(now);
  }

  restartsInWindow(now: number): number {
    return this.window(now).length;
  }

  reset(): void {
    this.restarts = [];
  }
}
