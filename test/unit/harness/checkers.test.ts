import { describe, expect, it } from 'vitest';
import { checkCrossStore, checkOrdersDuplicated, checkOrdersLost, checkOrphanedPositions, checkTickGaps, checkTickStores, gapRanges, runCheckers } from '../../../harness/checkers/index.ts';
import type { RunHistoryInput } from '../../../harness/history/schema.ts';
import { T0, history } from './fixtures.ts';

const h = (extra: Partial<RunHistoryInput>, events: { ts: number; type: string; data?: Record<string, unknown> }[] = []) => history({ faults: [], extra, events });
const deal = (ticket: number, comment: string, magic = 7) => ({ ticket, comment, magic });
const pos = (ticket: number, magic = 7) => ({ ticket, magic, symbol: 'EURUSD', volume: 0.1 });
const intent = (clientId: string) => ({ clientId, acceptedAt: T0 });

describe('orders lost', () => {
  it('passes when every intent has an outcome or a deal', () => {
    const r = checkOrdersLost(h({ magic: [7], ledger: { deals: [deal(1, 'a')], positions: [] }, orders: { intents: [intent('a'), intent('b')], final: [{ clientId: 'a', state: 'unknown' }, { clientId: 'b', state: 'rejected' }] } }));
    expect(r.status).toBe('pass');
  });
  it('fails for an intent stuck without a deal, and for a fill the broker never made', () => {
    const r = checkOrdersLost(h({ magic: [7], ledger: { deals: [deal(1, 'x', 99)], positions: [] }, orders: { intents: [intent('a'), intent('x')], final: [{ clientId: 'a', state: 'retrying' }, { clientId: 'x', state: 'filled' }] } }));
    expect(r.status).toBe('fail');
    expect(r.counterexamples).toEqual([expect.objectContaining({ clientId: 'a', state: 'retrying' }), expect.objectContaining({ clientId: 'x', problem: expect.stringMatching(/no deal/) })]);
  });
  it('is unknown without the ledger or the final states', () => {
    expect(checkOrdersLost(h({ orders: { intents: [intent('a')], final: [] } })).status).toBe('unknown');
    expect(checkOrdersLost(h({ ledger: { deals: [], positions: [] }, orders: { intents: [intent('a')], final: null } })).status).toBe('unknown');
    expect(checkOrdersLost(h({ ledger: { deals: [], positions: [] } })).status).toBe('unknown');
  });
});

describe('orders duplicated', () => {
  it('passes with one deal per client id, fails with two, unknown without a ledger', () => {
    expect(checkOrdersDuplicated(h({ magic: [7], ledger: { deals: [deal(1, 'a'), deal(2, 'b'), deal(3, 'a', 8)], positions: [] } })).status).toBe('pass');
    const bad = checkOrdersDuplicated(h({ magic: [7], ledger: { deals: [deal(1, 'a'), deal(2, 'b'), deal(3, 'a')], positions: [] } }));
    expect(bad).toMatchObject({ status: 'fail', counterexamples: [{ clientId: 'a', deals: [1, 3] }] });
    expect(checkOrdersDuplicated(h({})).status).toBe('unknown');
  });
});

describe('orphaned positions', () => {
  it('passes when the runtime knows every open position with our magic', () => {
    const r = checkOrphanedPositions(h({ magic: [7], ledger: { deals: [], positions: [pos(1), pos(2, 99)] }, positions: [{ ticket: 1, status: 'open' }] }));
    expect(r.status).toBe('pass');
  });
  it('fails for an open position the runtime does not know (or thinks closed)', () => {
    const r = checkOrphanedPositions(h({ magic: [7], ledger: { deals: [], positions: [pos(1), pos(2)] }, positions: [{ ticket: 1, status: 'open' }, { ticket: 2, status: 'closed' }] }));
    expect(r).toMatchObject({ status: 'fail', counterexamples: [{ ticket: 2 }] });
  });
  it('is unknown without positions, ledger or magic', () => {
    expect(checkOrphanedPositions(h({ magic: [7], ledger: { deals: [], positions: [] } })).status).toBe('unknown');
    expect(checkOrphanedPositions(h({ magic: [], ledger: { deals: [], positions: [] }, positions: [] })).status).toBe('unknown');
    expect(checkOrphanedPositions(h({ magic: [7], positions: [] })).status).toBe('unknown');
  });
});

describe('tick gaps', () => {
  const t = (seq: number, timeMs = T0 + seq, epoch = 1, stream = 'EURUSD') => ({ stream, epoch, seq, timeMs });
  it('passes when everything emitted was received, per stream and epoch', () => {
    const emitted = [t(1), t(2), t(3), t(1, T0, 2)];
    expect(checkTickGaps(h({ ticks: { emitted, received: [...emitted].reverse() } })).status).toBe('pass');
  });
  it('fails with the missing runs as counterexamples', () => {
    const emitted = [1, 2, 3, 4, 5, 6].map((s) => t(s));
    const r = checkTickGaps(h({ ticks: { emitted, received: [t(1), t(4), t(6), t(2, T0, 2)] } }));
    expect(r.status).toBe('fail');
    expect(r.counterexamples).toEqual([
      { stream: 'EURUSD', epoch: 1, fromSeq: 2, toSeq: 3, count: 2 },
      { stream: 'EURUSD', epoch: 1, fromSeq: 5, toSeq: 5, count: 1 },
    ]);
  });
  it('ignores ticks older than 24 h before the latest, on the feed clock', () => {
    const old = t(1, T0 - 25 * 3600_000);
    expect(checkTickGaps(h({ ticks: { emitted: [old, t(2)], received: [t(2)] } })).status).toBe('pass');
    // A feed clock far behind the wall clock still has its ticks checked.
    const past = (seq: number) => t(seq, 1_000_000 + seq);
    expect(checkTickGaps(h({ ticks: { emitted: [past(1), past(2)], received: [past(2)] } })).status).toBe('fail');
  });
  it('is unknown without records or with nothing emitted', () => {
    expect(checkTickGaps(h({})).status).toBe('unknown');
    expect(checkTickGaps(h({ ticks: { emitted: [], received: [] } })).status).toBe('unknown');
  });
  it('gapRanges groups consecutive seqs', () => {
    expect(gapRanges([t(3), t(1), t(2), t(9, T0, 1, 'GBPUSD')])).toEqual([
      { stream: 'EURUSD', epoch: 1, fromSeq: 1, toSeq: 3, count: 3 },
      { stream: 'GBPUSD', epoch: 1, fromSeq: 9, toSeq: 9, count: 1 },
    ]);
  });
});

describe('cross-store consistency', () => {
  const o = (clientId: string, state: string) => ({ clientId, state });
  const snaps = (takenAt: number, redis: unknown, duckdb: unknown, clickhouse: unknown) => ({ stores: { takenAt: T0 + takenAt, syncDeadlineMs: 1000, redis, duckdb, clickhouse } as never });
  const ev = [{ ts: 500, type: 'order.state', data: { clientId: 'a', to: 'filled' } }];
  it('passes when the three stores agree after the deadline', () => {
    expect(checkCrossStore(h(snaps(2000, [o('a', 'filled')], [o('a', 'filled')], [o('a', 'filled')]), ev)).status).toBe('pass');
  });
  it('fails on a differing state or a missing row', () => {
    const r = checkCrossStore(h(snaps(2000, [o('a', 'filled'), o('b', 'rejected')], [o('a', 'filled'), o('b', 'rejected')], [o('a', 'submitted')]), ev));
    expect(r.status).toBe('fail');
    expect(r.counterexamples).toEqual([
      { clientId: 'a', redis: 'filled', duckdb: 'filled', clickhouse: 'submitted' },
      { clientId: 'b', redis: 'rejected', duckdb: 'rejected', clickhouse: null },
    ]);
  });
  it('is unknown before the sync deadline or with a snapshot missing', () => {
    expect(checkCrossStore(h(snaps(1200, [], [], []), ev)).status).toBe('unknown');
    expect(checkCrossStore(h(snaps(2000, [], null, []), ev)).status).toBe('unknown');
    expect(checkCrossStore(h({})).status).toBe('unknown');
  });
});

describe('tick stores', () => {
  const keys = (epoch: number, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ epoch, seq: from + i }));
  it('passes when ClickHouse holds exactly the history, whatever the order', () => {
    const r = checkTickStores(h({ tickStores: { instance: 'ea-0', history: [...keys(1, 1, 50), ...keys(2, 1, 5)], clickhouse: [...keys(2, 1, 5), ...keys(1, 1, 50)].reverse() } }));
    expect(r.status).toBe('pass');
  });
  it('fails on ticks missing from ClickHouse, and on ticks the history never had, as ranges', () => {
    const r = checkTickStores(h({ tickStores: { instance: 'ea-0', history: keys(1, 1, 20), clickhouse: [...keys(1, 1, 9), ...keys(1, 13, 20), { epoch: 1, seq: 25 }, { epoch: 9, seq: 1 }] } }));
    expect(r.status).toBe('fail');
    expect(r.counterexamples).toEqual([
      { missingFromClickhouse: { stream: 'ea-0', epoch: 1, fromSeq: 10, toSeq: 12, count: 3 } },
      // Epoch 9 is not in the history (pruned or another run): not counted against it.
      { notInHistory: { stream: 'ea-0', epoch: 1, fromSeq: 25, toSeq: 25, count: 1 } },
    ]);
  });
  it('is unknown without both snapshots or without ticks', () => {
    expect(checkTickStores(h({})).status).toBe('unknown');
    expect(checkTickStores(h({ tickStores: { instance: 'ea-0', history: keys(1, 1, 3), clickhouse: null } })).status).toBe('unknown');
    expect(checkTickStores(h({ tickStores: { instance: 'ea-0', history: [], clickhouse: [] } })).status).toBe('unknown');
  });
});

describe('runCheckers', () => {
  it('runs the named checkers, all by default, and never passes on an empty history', () => {
    const all = runCheckers(h({}));
    expect(all.map((r) => r.name)).toEqual(['orders-lost', 'orders-duplicated', 'orphaned-positions', 'tick-gaps', 'cross-store-consistency', 'tick-store-consistency']);
    expect(all.every((r) => r.status === 'unknown')).toBe(true);
    expect(runCheckers(h({}), ['tick-gaps']).map((r) => r.name)).toEqual(['tick-gaps']);
  });
});
