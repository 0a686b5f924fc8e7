import { spawn } from 'node:child_process';
import { z } from 'zod';
import type { Alert, Notifier } from '../core/events.ts';
import type { Logger } from '../core/log.ts';

/**
 * User notifiers (seed §3.1 step 3: "notify user immediately"). Generic on
 * purpose: the tick streamer reuses them. A notifier never throws and never
 * blocks its caller for long: a failed or slow delivery is logged, not retried
 * forever, because the same alert is also an event on /events.
 */

export const NotifierSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('log') }),
  z.strictObject({ kind: z.literal('webhook'), url: z.url(), timeoutMs: z.number().int().positive().default(2000) }),
  z.strictObject({
    kind: z.literal('command'),
    /** argv[0] and arguments; the alert is written to stdin as one JSON line and in EA_ALERT. */
    command: z.array(z.string().min(1)).min(1),
    timeoutMs: z.number().int().positive().default(5000),
  }),
]);
export type NotifierSpec = z.infer<typeof NotifierSpecSchema>;

export class LogNotifier implements Notifier {
  constructor(private readonly log: Logger) {}
  async notify(alert: Alert): Promise<void> {
    const line = { alert: alert.code, component: alert.component, severity: alert.severity, data: alert.data };
    if (alert.severity === 'critical') this.log.error(line, alert.message);
    else this.log.warn(line, alert.message);
  }
}

export class WebhookNotifier implements Notifier {
  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}
  async notify(alert: Alert): Promise<void> {
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!res.ok) this.log.warn({ status: res.status, url: this.url, alert: alert.code }, 'notifier: webhook answered an error');
    } catch (e) {
      this.log.warn({ err: (e as Error).message, url: this.url, alert: alert.code }, 'notifier: webhook delivery failed');
    }
  }
}

export class CommandNotifier implements Notifier {
  constructor(
    private readonly argv: readonly string[],
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}
  notify(alert: Alert): Promise<void> {
    const json = JSON.stringify(alert);
    return new Promise((resolve) => {
      let child;
      try {
        child = spawn(this.argv[0]!, this.argv.slice(1), { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, EA_ALERT: json } });
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'notifier: command failed to start');
        resolve();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.on('error', (e) => this.log.warn({ err: e.message, command: this.argv[0] }, 'notifier: command failed'));
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) this.log.warn({ code, command: this.argv[0], alert: alert.code }, 'notifier: command exited non-zero');
        resolve();
      });
      child.stdin.on('error', () => {});
      child.stdin.end(`${json}\n`);
    });
  }
}

/** Log always, plus the configured channel. */
export class FanoutNotifier implements Notifier {
  constructor(private readonly targets: readonly Notifier[]) {}
  async notify(alert: Alert): Promise<void> {
    await Promise.all(this.targets.map((t) => t.notify(alert).catch(() => {})));
  }
}

export function createNotifier(spec: NotifierSpec | undefined, log: Logger): Notifier {
  const logN = new LogNotifier(log);
  if (!spec || spec.kind === 'log') return logN;
  if (spec.kind === 'webhook') return new FanoutNotifier([logN, new WebhookNotifier(spec.url, spec.timeoutMs, log)]);
  return new FanoutNotifier([logN, new CommandNotifier(spec.command, spec.timeoutMs, log)]);
}
