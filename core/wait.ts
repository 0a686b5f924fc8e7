import { TimeoutError } from './errors.ts';
import { systemClock, type Clock } from './clock.ts';

export interface WaitOptions {
  /** What is being waited for, for the error message. */
  what: string;
  timeoutMs: number;
  /** Poll period; readiness checks are cheap, so poll often. */
  intervalMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
  /** Errors that end the wait at once (a process that died will not become ready). */
  isFatal?: (e: unknown) => boolean;
}

/**
 * A readiness wait strategy: poll `check` until it returns a non-undefined
 * value or throws a non-retryable error. The last failure becomes the cause of
 * the TimeoutError, so "not ready" always says why.
 */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, opts: WaitOptions): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const interval = opts.intervalMs ?? 20;
  const deadline = clock.monotonic() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (opts.isFatal?.(e)) throw e;
      lastError = e;
    }
    if (clock.monotonic() >= deadline) throw new TimeoutError(opts.what, opts.timeoutMs, lastError);
    await clock.sleep(interval, opts.signal);
  }
}
