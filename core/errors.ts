/**
 * Every error ea-chaos raises on purpose carries a stable machine-readable `code`
 * (so callers and tests branch on codes, not on message text) and keeps the
 * underlying failure as `cause`.
 */
export class EaChaosError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }
}

/** Raised for invalid configuration, CLI flags or scenario documents: exit code 2. */
export class ConfigError extends EaChaosError {
  readonly issues: readonly ConfigIssue[];
  constructor(message: string, issues: readonly ConfigIssue[] = [], options: { cause?: unknown; source?: string } = {}) {
    super('E_CONFIG', message, { cause: options.cause, details: { source: options.source, issues } });
    this.issues = issues;
  }
}

export interface ConfigIssue {
  /** Dotted path of the offending field, e.g. `trade.backoffMs[2]`. */
  path: string;
  /** The value that was found there (undefined when missing). */
  received: unknown;
  /** What was expected, in words. */
  expected: string;
}

/** A required program is missing from the machine. */
export class MissingBinaryError extends EaChaosError {
  constructor(binary: string, debianPackage: string) {
    super('E_MISSING_BINARY', `${binary} not found on PATH: install the Debian package with: apt-get install -y ${debianPackage}`, {
      details: { binary, debianPackage },
    });
  }
}

/** A readiness wait ran out of time. */
export class TimeoutError extends EaChaosError {
  constructor(what: string, ms: number, cause?: unknown) {
    super('E_TIMEOUT', `${what} not ready after ${ms} ms`, { cause, details: { what, ms } });
  }
}

export function isEaChaosError(e: unknown, code?: string): e is EaChaosError {
  return e instanceof EaChaosError && (code === undefined || e.code === code);
}

/** Libraries sometimes reject with strings or plain objects; normalise to Error. */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  try {
    return new Error(JSON.stringify(e));
  } catch {
    return new Error(String(e));
  }
}
