import type { Clock } from './clock.ts';

/**
 * Every component state change in the runtime is an event with a timestamp from
 * the injected Clock. The harness measures recovery times from these events
 * against its own fault log, so an event is emitted when the change happens,
 * not when it is noticed later.
 */
export type Component =
  | 'trade'
  | 'tick'
  | 'redis'
  | 'duckdb'
  | 'clickhouse'
  | 'process'
  | 'session'
  | 'config'
  | 'runtime';

export interface RuntimeEvent {
  /** Monotonic sequence number within one process. */
  seq: number;
  /** Wall-clock ms (Clock.now()) when the change happened. */
  ts: number;
  component: Component;
  /** Dotted event type, e.g. `order.state`, `redis.master_changed`, `tick.switched`. */
  type: string;
  /** Instance id of the emitting runtime, when there is one. */
  instance?: string;
  data?: Record<string, unknown>;
}

export type EventListener = (e: RuntimeEvent) => void;

export class EventBus {
  private seq = 0;
  private readonly listeners = new Set<EventListener>();
  private readonly ring: RuntimeEvent[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly options: { instance?: string; capacity?: number } = {},
  ) {}

  emit(component: Component, type: string, data?: Record<string, unknown>): RuntimeEvent {
    const e: RuntimeEvent = { seq: ++this.seq, ts: this.clock.now(), component, type };
    if (this.options.instance) e.instance = this.options.instance;
    if (data) e.data = data;
    this.ring.push(e);
    // Trim in bulk once the buffer is half again over capacity: amortised O(1) per
    // event, where trimming one at a time would copy the whole buffer every time.
    const cap = this.options.capacity ?? 100_000;
    if (this.ring.length > cap + (cap >> 1)) this.ring.splice(0, this.ring.length - cap);
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a broken listener must not break the emitter */
      }
    }
    return e;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events with seq > `after`, oldest first (at least the last `capacity` events are kept). */
  since(after = 0): RuntimeEvent[] {
    // seq is dense and increasing, so the start index is computed, not searched.
    const first = this.ring[0];
    if (!first) return [];
    return this.ring.slice(Math.max(0, after - first.seq + 1));
  }
}

/** Something a person must hear about at once (fatal order, streaming stopped, instance given up). */
export interface Alert {
  severity: 'warning' | 'critical';
  component: Component;
  /** Stable code, e.g. `order.fatal`, `tick.stream_stopped`, `process.gave_up`. */
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

/** The user notifier port: log, webhook URL or command (runtime/notifier.ts implements them). */
export interface Notifier {
  notify(alert: Alert): Promise<void>;
}
