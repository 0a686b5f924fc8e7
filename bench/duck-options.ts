import { systemClock } from '../core/clock.ts';
import { EventBus } from '../core/events.ts';
import { silentLogger } from '../core/log.ts';
import type { DuckStoreOptions } from '../runtime/store/duckdb.ts';

/** A DuckStore as the runtime opens one (the seed's 256 MB WAL limit and 500 ms backup), for the benches. */
export function benchDuckOptions(path: string, lockMaxAttempts = 10): DuckStoreOptions {
  return {
    path,
    clock: systemClock,
    events: new EventBus(systemClock),
    log: silentLogger,
    walLimitBytes: 256 * 1024 * 1024,
    backupIntervalMs: 500,
    lockRetryMs: 20,
    lockMaxAttempts,
  };
}
