import { request, type ClientRequest } from 'node:http';
import type { RuntimeEvent } from '../../core/events.ts';

/** An event as the harness saw it: which runtime process emitted it, and when it arrived. */
export interface CollectedEvent extends RuntimeEvent {
  /** Instance id given by the harness (not the runtime's own), so restarts stay on one line. */
  source: string;
  pid?: number;
  receivedAt: number;
}

/**
 * Follows a runtime's `GET /events` NDJSON stream and keeps every event. A
 * runtime that is killed and restarted starts a new stream (its sequence starts
 * again), so the collector reconnects after any disconnect and de-duplicates
 * by (pid, seq).
 */
export class EventCollector {
  readonly events: CollectedEvent[] = [];
  private req: ClientRequest | undefined;
  private stopped = false;
  private lastSeq = new Map<string, number>();
  private retry: NodeJS.Timeout | undefined;
  private listeners = new Set<(e: CollectedEvent) => void>();

  constructor(
    private readonly source: string,
    private readonly url: () => string | undefined,
    private readonly pid: () => number | undefined,
  ) {}

  start(): this {
    this.connect();
    return this;
  }

  onEvent(fn: (e: CollectedEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private connect(): void {
    if (this.stopped) return;
    const base = this.url();
    const pid = this.pid();
    if (!base || pid === undefined) {
      this.schedule();
      return;
    }
    const key = String(pid);
    const since = this.lastSeq.get(key) ?? 0;
    const req = request(`${base}/events?since=${since}&follow=1`, { method: 'GET' }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            const e = JSON.parse(line) as RuntimeEvent;
            if (e.seq <= (this.lastSeq.get(key) ?? 0)) continue;
            this.lastSeq.set(key, e.seq);
            const ce: CollectedEvent = { ...e, source: this.source, pid, receivedAt: Date.now() };
            this.events.push(ce);
            for (const l of this.listeners) l(ce);
          } catch {
            /* a torn line at a kill: the next connection re-reads from lastSeq */
          }
        }
      });
      res.on('end', () => this.schedule());
      res.on('error', () => this.schedule());
    });
    req.on('error', () => this.schedule());
    req.end();
    this.req = req;
  }

  private schedule(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect();
    }, 20);
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.req?.destroy();
  }
}
