import { EaChaosError, ConfigError } from '../core/errors.ts';

/** Exit codes: 0 ok, 1 failure (a goal or invariant failed, a service failed), 2 bad input. */
export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;

export function exitCodeFor(err: unknown): number {
  if (err instanceof ConfigError) return EXIT_USAGE;
  if (err instanceof EaChaosError && err.code === 'E_USAGE') return EXIT_USAGE;
  return EXIT_FAIL;
}

/** Print an error for a person: the message, its code, and the chain of causes. */
export function reportError(err: unknown): void {
  if (err instanceof EaChaosError) {
    process.stderr.write(`ea-chaos: ${err.message} [${err.code}]\n`);
    let cause = err.cause;
    let depth = 0;
    while (cause instanceof Error && depth++ < 3 && !(err instanceof ConfigError)) {
      process.stderr.write(`  caused by: ${cause.message}\n`);
      cause = cause.cause;
    }
  } else if (err instanceof Error) {
    process.stderr.write(`ea-chaos: ${err.stack ?? err.message}\n`);
  } else {
    process.stderr.write(`ea-chaos: ${String(err)}\n`);
  }
}
