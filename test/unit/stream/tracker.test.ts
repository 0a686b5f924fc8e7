import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeqFingerprints, SequenceTracker } from '../../../simulator/consumer/tracker.ts';
import type { Tick } from '../../../runtime/stream/codec.ts';

const t = (i: number): Tick => ({ symbol: 'EURUSD', bid: 1 + i, ask: 1 + i, last: 0, volume: 0, time_msc: i, flags: 0 });

describe('SequenceTracker', () => {
  it('after any arrival order with duplicates, gaps are exactly the seqs not received', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 200 }), (arrivals) => {
        const tr = new SequenceTracker();
        for (const s of arrivals) tr.accept({ epoch: 9, seq: s, tick: t(s) }, 0);
        const got = new Set(arrivals);
        const max = Math.max(...arrivals);
        const missing: number[] = [];
        for (let s = 1; s <= max; s++) if (!got.has(s)) missing.push(s);
        const fromGaps = tr.gaps().flatMap((g) => Array.from({ length: g.to - g.from + 1 }, (_, k) => g.from + k));
        expect(fromGaps.sort((a, b) => a - b)).toEqual(missing);
        expect(tr.counts.new + tr.counts.filled).toBe(got.size);
        expect(tr.counts.duplicate).toBe(arrivals.length - got.size);
        expect(tr.counts.conflict).toBe(0);
        expect(tr.contiguous(9)).toBe(missing.length ? missing[0]! - 1 : max);
      }),
    );
  });

  it('counts a seq seen again with other content as a conflict and keeps it as an anomaly', () => {
    const tr = new SequenceTracker();
    expect(tr.accept({ epoch: 1, seq: 1, tick: t(1) }, 0)).toBe('new');
    expect(tr.accept({ epoch: 1, seq: 1, tick: t(1) }, 0)).toBe('duplicate');
    expect(tr.accept({ epoch: 1, seq: 1, tick: t(2) }, 0)).toBe('conflict');
    expect(tr.anomalies.map((a) => a.kind)).toEqual(['seq_reset', 'conflict']);
    // A new epoch starts its own sequence: seq 1 again is not a conflict there.
    expect(tr.accept({ epoch: 2, seq: 1, tick: t(2) }, 0)).toBe('new');
  });

  it('a run of conflicts is one sequence reset; a stale hello is not one', () => {
    const tr = new SequenceTracker();
    for (let s = 1; s <= 5; s++) tr.accept({ epoch: 1, seq: s, tick: t(s) }, 0);
    tr.noteHello(1, 0, 0);
    expect(tr.counts.seqReset).toBe(0);
    for (let s = 1; s <= 3; s++) expect(tr.accept({ epoch: 1, seq: s, tick: t(s + 100) }, 0)).toBe('conflict');
    expect(tr.counts).toMatchObject({ seqReset: 1, conflict: 3 });
    expect(tr.anomalies.map((a) => a.kind)).toEqual(['seq_reset', 'conflict', 'conflict', 'conflict']);
  });

  it('turns a lost tail announced by a ping into a gap, and unfillable ranges into anomalies', () => {
    const tr = new SequenceTracker();
    tr.accept({ epoch: 1, seq: 1, tick: t(1) }, 0);
    tr.noteLastSeq(1, 4, 10);
    expect(tr.gaps()).toEqual([{ epoch: 1, from: 2, to: 4, seenAt: 10 }]);
    tr.markUnfillable(1, 2, 4, 'pruned', 20);
    expect(tr.gaps()).toEqual([]);
    expect(tr.anomalies.map((a) => a.kind)).toEqual(['unfillable']);
  });

  it('without backfill, a late joiner owes nothing before its first tick', () => {
    const tr = new SequenceTracker({ backfillFromStart: false });
    tr.accept({ epoch: 1, seq: 100, tick: t(100) }, 0);
    expect(tr.gaps()).toEqual([]);
    tr.accept({ epoch: 1, seq: 103, tick: t(103) }, 0);
    expect(tr.gaps().map((g) => [g.from, g.to])).toEqual([[101, 102]]);
  });

  it('bounds memory: forgets the content of old, fully received seqs and still counts their copies as duplicates', () => {
    const tr = new SequenceTracker({ retainTicks: 10 });
    for (let s = 1; s <= 100; s++) tr.accept({ epoch: 1, seq: s, tick: t(s) }, 0);
    expect(tr.has(1, 1)).toBe(true);
    expect(tr.received(1)).toBe(100);
    expect(tr.accept({ epoch: 1, seq: 3, tick: t(3) }, 0)).toBe('duplicate');
    expect(tr.accept({ epoch: 1, seq: 100, tick: t(7) }, 0)).toBe('conflict');
    // A gap is never forgotten: content below an open gap is kept until it is filled.
    const g = new SequenceTracker({ retainTicks: 10 });
    g.accept({ epoch: 1, seq: 5, tick: t(5) }, 0);
    for (let s = 6; s <= 50; s++) g.accept({ epoch: 1, seq: s, tick: t(s) }, 0);
    expect(g.gaps().map((x) => [x.from, x.to])).toEqual([[1, 4]]);
    expect(g.has(1, 3)).toBe(false);
  });
});

describe('SeqFingerprints', () => {
  it('behaves like a Map of seq → fingerprint under sets and range deletes, across page boundaries', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('set' as const), seq: fc.integer({ min: 0, max: 200_000 }), fp: fc.integer({ min: 0, max: 2 ** 30 - 1 }) }),
      fc.record({ k: fc.constant('del' as const), from: fc.integer({ min: 0, max: 200_000 }), len: fc.integer({ min: 0, max: 140_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 30 }), (ops, probes) => {
        const f = new SeqFingerprints();
        const model = new Map<number, number>();
        for (const o of ops) {
          if (o.k === 'set') {
            f.set(o.seq, o.fp);
            model.set(o.seq, o.fp);
          } else {
            f.deleteRange(o.from, o.from + o.len);
            for (const q of [...model.keys()]) if (q >= o.from && q <= o.from + o.len) model.delete(q);
          }
        }
        expect(f.size).toBe(model.size);
        for (const q of [...model.keys(), ...probes]) expect(f.get(q)).toBe(model.get(q));
      }),
      { numRuns: 200 },
    );
  });
});
