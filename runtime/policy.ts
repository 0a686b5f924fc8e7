import type { Clock, TimerHandle } from '../core/clock.ts';
import { EaChaosError } from '../core/errors.ts';

/**
 * Small composable resilience policies in the cockatiel style (retry, timeout,
 * wrap), written on the injected Clock. cockatiel's RetryPolicy sleeps with the
 * global setTimeout, which a ManualClock cannot drive; these can, so the whole
 * 31 s trade backoff runs in milliseconds in unit tests.
 *
 * One addition cockatiel lacks: a `Wake` signal. A health probe that sees the
 * dependency come back fires it and every policy waiting out a backoff retries
 * at once. That is how the seed's long backoffs (16 s, 30 s) and its sub-second
 * recovery goals are reconciled.
 */

export interface PolicyContext {
  /** 0 for the first call, n for the n-th retry. */
  attempt: number;
  signal: AbortSignal;
}

export interface Policy {
  execute<T>(fn: (ctx: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** A level-triggered broadcast: every waiter registered before `fire()` is released. */
export class Wake {
  private waiters = new Set<() => void>();
  private generation = 0;

  fire(): void {
    this.generation++;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** How many times it has fired: lets a caller notice a wake it was not waiting for. */
  get count(): number {
    return this.generation;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** Register a one-shot listener; returns its canceller. */
  once(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
  }
}

export type WaitOutcome = 'elapsed' | 'woken';

/** Wait `ms` on the clock, or less if `wake` fires; rejects if `signal` aborts. */
export function waitOrWake(clock: Clock, ms: number, wake?: Wake, signal?: AbortSignal): Promise<WaitOutcome> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error('aborted'));
      return;
    }
    let timer: TimerHandle | undefined;
    let cancelWake: (() => void) | undefined;
    const done = (o: WaitOutcome) => {
      timer?.cancel();
      cancelWake?.();
      signal?.removeEventListener('abort', onAbort);
      resolve(o);
    };
    const onAbort = () => {
      timer?.cancel();
      cancelWake?.();
      reject(signal!.reason ?? new Error('aborted'));
    };
    timer = clock.setTimer(ms, () => done('elapsed'));
    cancelWake = wake?.once(() => done('woken'));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class RetriesExhaustedError extends EaChaosError {
  constructor(attempts: number, cause: unknown) {
    super('E_RETRIES_EXHAUSTED', `gave up after ${attempts} attempts`, { cause, details: { attempts } });
  }
}

export interface RetryOptions {
  clock: Clock;
  /** Delay before retry n (1-based: delays[0] precedes the first retry); the last value repeats. */
  delays: readonly number[];
  /** Retries after the first call. */
  maxRetries: number;
  /** Which failures are retried; the others are rethrown at once. */
  handle: (err: unknown) => boolean;
  wake?: Wake;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  onWoken?: (info: { attempt: number }) => void;
}

export function retry(opts: RetryOptions): Policy {
  return {
    async execute<T>(fn: (ctx: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T> {
      const sig = signal ?? new AbortController().signal;
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn({ attempt, signal: sig });
        } catch (err) {
          if (!opts.handle(err)) throw err;
          if (attempt >= opts.maxRetries) throw new RetriesExhaustedError(attempt + 1, err);
          const delayMs = opts.delays[Math.min(attempt, opts.delays.length - 1)] ?? 0;
          opts.onRetry?.({ attempt: attempt + 1, delayMs, error: err });
          const how = await waitOrWake(opts.clock, delayMs, opts.wake, sig);
          if (how === 'woken') opts.onWoken?.({ attempt: attempt + 1 });
        }
      }
    },
  };
}

export class PolicyTimeoutError extends EaChaosError {
  constructor(ms: number) {
    super('E_POLICY_TIMEOUT', `operation timed out after ${ms} ms`, { details: { ms } });
  }
}

/** Abort the call's signal and reject after `ms`; the callee decides what an abort means. */
export function timeout(clock: Clock, ms: number): Policy {
  return {
    execute<T>(fn: (ctx: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T> {
      const ac = new AbortController();
      const onOuter = () => ac.abort(signal!.reason);
      signal?.addEventListener('abort', onOuter, { once: true });
      return new Promise<T>((resolve, reject) => {
        const timer = clock.setTimer(ms, () => {
          const e = new PolicyTimeoutError(ms);
          ac.abort(e);
          reject(e);
        });
        fn({ attempt: 0, signal: ac.signal }).then(
          (v) => {
            timer.cancel();
            signal?.removeEventListener('abort', onOuter);
            resolve(v);
          },
          (e: unknown) => {
            timer.cancel();
            signal?.removeEventListener('abort', onOuter);
            reject(e);
          },
        );
      });
    },
  };
}

/** Compose policies outermost first, like cockatiel's `wrap`. */
export function wrap(...policies: Policy[]): Policy {
  return {
    execute<T>(fn: (ctx: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T> {
      const run = (i: number, sig: AbortSignal | undefined, attempt: number): Promise<T> => {
        if (i === policies.length) return fn({ attempt, signal: sig ?? new AbortController().signal });
        return policies[i]!.execute((ctx) => run(i + 1, ctx.signal, i === 0 ? ctx.attempt : attempt), sig);
      };
      return run(0, signal, 0);
    },
  };
}

/**
 * A periodic task on the Clock that can also be triggered at once. Used for the
 * `failed_syncs` drains (every 30 s, or now when a probe sees the store back).
 */
export class Periodic {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly task: () => Promise<void>,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  start(): this {
    this.schedule();
    return this;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimer(this.intervalMs, () => void this.trigger());
  }

  /** Run now (coalesced with a run in progress), then restart the period. */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.task().catch(this.onError);
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
        this.schedule();
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }
}
