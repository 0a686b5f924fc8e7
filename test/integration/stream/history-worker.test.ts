import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import type { StreamTick } from '../../../runtime/stream/codec.ts';
import { WorkerTickHistory, type TickHistoryFailure } from '../../../runtime/stream/history-thread.ts';
import { tempLabDir } from '../../helpers/labs.ts';

const dir = tempLabDir('tick-history');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const st = (seq: number, epoch = 5): StreamTick => ({
  epoch,
  seq,
  tick: { symbol: seq % 2 ? 'EURUSD' : 'GBPUSD', bid: 1 + seq / 1e5, ask: 1.0002 + seq / 1e5, last: 0, volume: 0, time_msc: 1_000_000 + seq, flags: 6, seq: seq + 10, epoch: 77, stream: 'feed-a', ...(seq % 3 ? {} : { volume_real: seq / 7 }) },
});

async function countRows(file: string): Promise<{ n: number; min: number; max: number; distinct: number }> {
  const db = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll('SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM stream_ticks');
    const [n, min, max, distinct] = r.getRowsJS()[0]!.map(Number);
    return { n: n!, min: min!, max: max!, distinct: distinct! };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('WorkerTickHistory (a real worker thread with its own DuckDB file)', () => {
  it('answers ranges with every tick appended before the request, prunes, and leaves them all in its file on close', async () => {
    const file = join(dir, 'a.ticks.duckdb');
    const failures: TickHistoryFailure[] = [];
    const h = await WorkerTickHistory.open({ path: file, onError: (f) => failures.push(f) });
    const storedAt = 5_000;
    // Across several event-loop turns, as the streamer appends; the last ones in the same turn as the query.
    for (let seq = 1; seq <= 3_000; seq++) {
      h.append(st(seq), storedAt);
      if (seq % 500 === 0) await nextTurn();
    }
    for (let seq = 3_001; seq <= 3_010; seq++) h.append(st(seq), storedAt);
    const bySeq = await h.bySeq(5, 2_998, 3_010, 100);
    expect(bySeq).toEqual(Array.from({ length: 13 }, (_, i) => st(2_998 + i)));
    const byTime = await h.byTime(5, 1_000_100, 1_000_104, 100);
    expect(byTime.map((t) => t.seq)).toEqual([100, 101, 102, 103, 104]);
    expect(await h.bySeq(6, 1, 10, 100)).toEqual([]);
    expect((await h.bySeq(5, 1, 3_010, 7)).map((t) => t.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // Rows of a later store time survive a prune before it.
    h.append(st(1, 9), storedAt + 10);
    expect(await h.prune(storedAt + 1)).toBe(3_010);
    expect(await h.bySeq(5, 1, 10, 100)).toEqual([]);
    for (let seq = 2; seq <= 1_000; seq++) h.append(st(seq, 9), storedAt + 10);
    await h.close();
    await h.close();
    expect(h.stats()).toMatchObject({ posted: 4_010, lost: 0, writeErrors: 0, failed: false });
    expect(h.stats().worker!.flushedRows).toBe(4_010);
    expect(failures).toEqual([]);
    expect(await countRows(file)).toEqual({ n: 1_000, min: 1, max: 1_000, distinct: 1_000 });
  });

  it('fails to open, naming the file, when the file cannot be a DuckDB database', async () => {
    const notAFile = join(dir, 'a-directory.duckdb');
    mkdirSync(notAFile, { recursive: true });
    await expect(WorkerTickHistory.open({ path: notAFile })).rejects.toMatchObject({ code: 'E_TICK_HISTORY', message: expect.stringContaining(notAFile) });
  });

  it('reports a worker that dies, rejects queries, and counts later appends as lost instead of throwing', async () => {
    const failures: TickHistoryFailure[] = [];
    const h = await WorkerTickHistory.open({ path: join(dir, 'b.ticks.duckdb'), onError: (f) => failures.push(f) });
    for (let seq = 1; seq <= 100; seq++) h.append(st(seq), 1);
    expect((await h.bySeq(5, 1, 100, 1_000)).length).toBe(100);
    // From the main thread a crashed worker is an exit nobody asked for; ending it is how a test gets one.
    await (h as unknown as { worker: Worker }).worker.terminate();
    await expect.poll(() => failures.length).toBe(1);
    expect(failures[0]).toMatchObject({ kind: 'worker_failed' });
    expect(() => h.append(st(101), 1)).not.toThrow();
    h.append(st(102), 1);
    await expect(h.bySeq(5, 1, 10, 10)).rejects.toMatchObject({ code: 'E_TICK_HISTORY' });
    await expect(h.prune(0)).rejects.toMatchObject({ code: 'E_TICK_HISTORY' });
    expect(h.stats()).toMatchObject({ posted: 100, lost: 2, failed: true });
    await h.close();
  });
});
