import { destination, pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs to stderr (stdout is kept for command output such as
 * `--json`). EA_CHAOS_LOG_LEVEL overrides the level.
 */
export function createLogger(name: string, level?: string): Logger {
  return pino({ name, level: level ?? process.env.EA_CHAOS_LOG_LEVEL ?? 'info', base: { pid: process.pid } }, destination(2));
}

/** A logger that writes nothing, for tests and quiet library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
