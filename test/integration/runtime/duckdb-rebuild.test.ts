import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import { silentLogger } from '../../../core/log.ts';
import { DuckStore } from '../../../runtime/store/duckdb.ts';
import { orderRow } from '../../../runtime/store/rows.ts';
import { newOrder } from '../../../runtime/order-state.ts';
import { waitFor } from '../../../core/wait.ts';
import { tempLabDir } from '../../helpers/labs.ts';

/** Seed §3.4 step 4: database and backup both unusable → a fresh file the caller rebuilds. */
function wreckHeader(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
  } finally {
    closeSync(fd);
  }
}

const stores: DuckStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.stop().catch(() => {});
});

describe('DuckStore.open when the database and its backup are both corrupt', () => {
  it('opens a fresh database, asks for a rebuild and recreates the backup, instead of crashing', async () => {
    const dir = tempLabDir('duckdb-rebuild');
    const path = join(dir, 'ea-0.duckdb');
    const opts = { path, clock: systemClock, log: silentLogger, walLimitBytes: 256 * 1024 * 1024, backupIntervalMs: 20, lockRetryMs: 20, lockMaxAttempts: 3 };
    const first = await DuckStore.open({ ...opts, events: new EventBus(systemClock) });
    stores.push(first);
    await first.putOrder(orderRow(newOrder({ clientId: 'a.1', magic: 1, symbol: 'EURUSD', side: 'buy', volume: 0.01 }, 1), 1));
    first.startBackups();
    await waitFor(() => (first.lastBackup ? true : undefined), { what: 'a backup cycle', timeoutMs: 5000 });
    await first.stop();
    expect(existsSync(`${path}.backup`)).toBe(true);
    wreckHeader(path);
    wreckHeader(`${path}.backup`);

    const events = new EventBus(systemClock);
    const second = await DuckStore.open({ ...opts, events });
    stores.push(second);
    expect(second.openedFrom).toBe('fresh');
    expect(second.needsRebuild).toBe(true);
    expect(events.since(0).map((e) => e.type)).toEqual(expect.arrayContaining(['duckdb.corrupt', 'duckdb.rebuild_needed', 'duckdb.open']));
    expect(await second.loadOrders()).toEqual([]);
    // The fresh database takes writes again.
    await second.putOrder(orderRow(newOrder({ clientId: 'a.2', magic: 1, symbol: 'EURUSD', side: 'buy', volume: 0.01 }, 2), 2));
    expect((await second.loadOrders()).map((r) => r.clientId)).toEqual(['a.2']);
  });
});
