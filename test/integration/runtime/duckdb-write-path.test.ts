import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import { silentLogger } from '../../../core/log.ts';
import { DuckStore } from '../../../runtime/store/duckdb.ts';
import { dealRow, orderRow } from '../../../runtime/store/rows.ts';
import { newOrder } from '../../../runtime/order-state.ts';
import { ROOT } from '../../helpers/cli.ts';
import { tempLabDir } from '../../helpers/labs.ts';
import { waitFor } from '../../../core/wait.ts';

/**
 * The intent write path on real DuckDB files: lazy writes never hold back an awaited one, are
 * committed before their promise resolves (and at stop), the backup never skips a row committed
 * out of rev order, and a process killed right after an intent's commit still has the intent.
 */
const stores: DuckStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.stop().catch(() => {});
});

function opts(path: string, lazyWindowMs?: number) {
  return { path, clock: systemClock, events: new EventBus(systemClock), log: silentLogger, walLimitBytes: 256 * 1024 * 1024, backupIntervalMs: 500, lockRetryMs: 20, lockMaxAttempts: 3, ...(lazyWindowMs ? { lazyWindowMs } : {}) };
}

const order = (id: string, rev: number, state = 'persisted') => orderRow({ ...newOrder({ clientId: id, magic: 1, symbol: 'EURUSD', side: 'buy', volume: 0.01 }, 1), state: state as 'persisted' }, rev);
const deal = (n: number, rev: number) => dealRow({ deal: n, clientId: 'w.1', order: n, symbol: 'EURUSD', side: 'buy', volume: 0.01, price: 1.1, magic: 1, timeMsc: 1, positionId: n }, rev);

describe('DuckStore write path', () => {
  it('commits an awaited intent without waiting for queued lazy writes, which land within their window or at stop', async () => {
    const path = join(tempLabDir('duck-write'), 'w.duckdb');
    // A window far longer than the test: a lazy write may only be committed by a read or stop.
    const s = await DuckStore.open(opts(path, 600_000));
    stores.push(s);
    let lazyOrderDone = false;
    let lazyDealDone = false;
    const lazy = s.putOrder(order('w.0', 1, 'filled'), { lazy: true }).then(() => (lazyOrderDone = true));
    const lazyDeal = s.putDeal(deal(7, 2), { lazy: true }).then(() => (lazyDealDone = true));
    await s.putOrder(order('w.1', 3), { fresh: true });
    // The intent went through the appender, committed on its own: the lazy rows still wait.
    expect(lazyOrderDone).toBe(false);
    expect(lazyDealDone).toBe(false);
    const committed = s.commitStats.writes;
    expect(committed).toBe(1);
    // A fresh hint on a key that exists after all still upserts instead of failing: the flush
    // fails on the duplicate key, the batch falls back to the upsert path, and a new appender
    // takes the next intent.
    const dup = s.putOrder(order('w.1', 4, 'filled'), { fresh: true });
    const sameBatch = s.putOrder(order('w.2', 5), { fresh: true });
    await Promise.all([dup, sameBatch]);
    await s.putOrder(order('w.3', 6), { fresh: true });
    // A read sees every write queued before it.
    const rows = await s.loadOrders();
    expect(rows.map((r) => [r.clientId, r.state, r.rev]).sort()).toEqual([
      ['w.0', 'filled', 1],
      ['w.1', 'filled', 4],
      ['w.2', 'persisted', 5],
      ['w.3', 'persisted', 6],
    ]);
    await lazy;
    await lazyDeal;
    const late = s.putPosition({ ticket: 9, status: 'open', rev: 5, data: '{}' }, { lazy: true });
    await s.stop();
    await late;
    const again = await DuckStore.open(opts(path));
    stores.push(again);
    expect((await again.loadPositions()).map((p) => p.ticket)).toEqual([9]);
    expect((await again.loadDeals()).map((d) => d.deal)).toEqual([7]);
    await again.stop();
  });

  it('lazy rows update existing orders and insert new deals in place; a row that breaks that falls back to the upsert, losing nothing', async () => {
    const path = join(tempLabDir('duck-write'), 'l.duckdb');
    const s = await DuckStore.open(opts(path, 600_000));
    stores.push(s);
    await Promise.all([s.putOrder(order('l.1', 1), { fresh: true }), s.putOrder(order('l.2', 2), { fresh: true })]);
    const lazyBatch = async (writes: Promise<void>[]) => {
      // A read makes every queued lazy row due and waits for it.
      await s.loadOrders();
      await Promise.all(writes);
    };
    await lazyBatch([s.putOrder(order('l.1', 3, 'filled'), { lazy: true }), s.putOrder(order('l.2', 4, 'rejected'), { lazy: true }), s.putDeal(deal(21, 5), { lazy: true })]);
    expect(s.commitStats.lazyUpserts).toBe(0);
    // An order that is not there (no intent row) and a deal that is: both fall back, nothing lost.
    await lazyBatch([s.putOrder(order('l.3', 6, 'filled'), { lazy: true }), s.putOrder(order('l.1', 7, 'reconciled'), { lazy: true })]);
    await lazyBatch([s.putDeal(deal(21, 8), { lazy: true }), s.putPosition({ ticket: 4, status: 'open', rev: 9, data: '{}' }, { lazy: true })]);
    expect(s.commitStats.lazyUpserts).toBe(2);
    await s.stop();
    const again = await DuckStore.open(opts(path));
    stores.push(again);
    expect((await again.loadOrders()).map((r) => [r.clientId, r.state, r.rev]).sort()).toEqual([
      ['l.1', 'reconciled', 7],
      ['l.2', 'rejected', 4],
      ['l.3', 'filled', 6],
    ]);
    expect((await again.loadDeals()).map((d) => [d.deal, d.rev])).toEqual([[21, 8]]);
    expect((await again.loadPositions()).map((p) => p.ticket)).toEqual([4]);
    await again.stop();
  });

  it('a lazy row committed after a higher rev is still copied by the next backup', async () => {
    const path = join(tempLabDir('duck-write'), 'b.duckdb');
    const s = await DuckStore.open(opts(path, 600_000));
    stores.push(s);
    await s.backupOnce();
    const lazyDeal = s.putDeal(deal(11, 1), { lazy: true });
    await s.putOrder(order('b.1', 2), { fresh: true });
    await s.backupOnce(); // rev 2 is committed, rev 1 is not: the backup must stop below 1
    await s.loadDeals(); // settles the lazy deal
    await lazyDeal;
    await s.backupOnce();
    const r = await s.connection.runAndReadAll('SELECT (SELECT count(*) FROM bak.deals) AS d, (SELECT count(*) FROM bak.orders) AS o');
    expect(r.getRowObjectsJS()[0]).toEqual({ d: 1n, o: 1n });
    await s.stop();
  });

  it('intents of one turn share one synchronous appender flush; later turns flush on their own; a failed flush reopens the appender', async () => {
    const path = join(tempLabDir('duck-write'), 'a.duckdb');
    const s = await DuckStore.open(opts(path, 600_000));
    stores.push(s);
    // Five intents submitted together: committed by one flush, before the next event-loop turn.
    let turnEnded = false;
    setImmediate(() => (turnEnded = true));
    await Promise.all([1, 2, 3, 4, 5].map((k) => s.putOrder(order(`a.${k}`, k), { fresh: true })));
    expect(turnEnded).toBe(false);
    expect(s.intentFlushMs).toHaveLength(1);
    await new Promise((r) => setImmediate(r));
    await s.putOrder(order('a.6', 6), { fresh: true });
    expect(s.intentFlushMs).toHaveLength(2);
    // A duplicate key fails the flush: the batch is upserted instead, and a new appender opens.
    await s.putOrder(order('a.6', 7, 'filled'), { fresh: true });
    let probe = 0;
    await waitFor(
      async () => {
        const before = s.intentFlushMs.length;
        probe++;
        await s.putOrder(order(`a.probe.${probe}`, 100 + probe), { fresh: true });
        return s.intentFlushMs.length > before || undefined;
      },
      { what: 'intent appender reopened', timeoutMs: 5000, intervalMs: 10 },
    );
    const rows = new Map((await s.loadOrders()).map((r) => [r.clientId, r.state]));
    expect(rows.get('a.6')).toBe('filled');
    for (let k = 1; k <= 5; k++) expect(rows.get(`a.${k}`)).toBe('persisted');
    await s.stop();
  });

  it('a process killed right after an intent commit, before the send, keeps the intent', async () => {
    const path = join(tempLabDir('duck-write'), 'k.duckdb');
    // The engine's own path in a child: every order the broker is asked to send kills the process
    // on the spot, so nothing after the commit (not even an event-loop turn) runs.
    const script = `
      import { DuckStore } from ${JSON.stringify(join(ROOT, 'runtime/store/duckdb.ts'))};
      import { OrderEngine } from ${JSON.stringify(join(ROOT, 'runtime/engine.ts'))};
      import { Wake } from ${JSON.stringify(join(ROOT, 'runtime/policy.ts'))};
      import { EventBus } from ${JSON.stringify(join(ROOT, 'core/events.ts'))};
      import { systemClock } from ${JSON.stringify(join(ROOT, 'core/clock.ts'))};
      import { silentLogger } from ${JSON.stringify(join(ROOT, 'core/log.ts'))};
      const duck = await DuckStore.open({ path: ${JSON.stringify(path)}, clock: systemClock, events: new EventBus(systemClock), log: silentLogger, walLimitBytes: 268435456, backupIntervalMs: 500, lockRetryMs: 20, lockMaxAttempts: 3 });
      const broker = {
        wake: new Wake(),
        orderSend: async (req) => { process.stdout.write(req.comment + '\\n', () => process.kill(process.pid, 'SIGKILL')); return new Promise(() => {}); },
        symbolInfo: async () => { throw new Error('offline'); },
        tick: async () => null,
        historyDeals: async () => [], orders: async () => [], positions: async () => [],
      };
      const engine = new OrderEngine({ clock: systemClock, events: new EventBus(systemClock), log: silentLogger, notifier: { notify: async () => {} }, broker, duck, mirrors: [], instanceId: 'kill', magic: 5, backoffMs: [1000], maxAttempts: 1, failedSyncRetryMs: 30000, failedSyncMaxAttempts: 1, orderTimeoutMs: 2000, unknownGraceMs: 100, maxRequotes: 0 });
      for (let i = 0; i < 5; i++) void engine.submit({ symbol: 'EURUSD', side: 'buy', volume: 0.01, price: 1.1 });
    `;
    const sent = await new Promise<string[]>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
      c.on('exit', (_code, signal) => {
        clearTimeout(t);
        if (signal !== 'SIGKILL') reject(new Error(`child exited without the kill (${signal})`));
        else resolve(out.split('\n').filter(Boolean));
      });
    });
    expect(sent.length).toBeGreaterThanOrEqual(1);
    const s = await DuckStore.open(opts(path));
    stores.push(s);
    const rows = new Map((await s.loadOrders()).map((r) => [r.clientId, r.state]));
    for (const id of sent) expect(rows.get(id)).toBe('persisted');
    await s.stop();
  });
});
