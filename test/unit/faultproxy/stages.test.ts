import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import {
  BandwidthStage,
  CLOSE,
  LatencyStage,
  LimitDataStage,
  ResetPeerStage,
  SlicerStage,
  SlowCloseStage,
  TimeoutStage,
  sliceOffsets,
  type Item,
  type Stage,
  type StageContext,
} from '../../../faultproxy/stages.ts';

function context(clock: ManualClock, seed = 1) {
  const state = { dropped: 0, resets: 0 };
  const ctx: StageContext = {
    clock,
    random: createRandom(seed),
    carry: {},
    dropped: (n) => (state.dropped += n),
    reset: () => state.resets++,
  };
  return { ctx, state };
}

interface Seen {
  at: number;
  data?: string;
  close?: true;
}

function collect(stage: Stage, clock: ManualClock): Seen[] {
  const seen: Seen[] = [];
  stage.out = (item: Item) => seen.push(item === CLOSE ? { at: clock.monotonic(), close: true } : { at: clock.monotonic(), data: item.data.toString() });
  return seen;
}

const chunk = (s: string, time: number) => ({ data: Buffer.from(s), time });

describe('latency stage', () => {
  it('delays each chunk by latency from its read time, keeps order, and lets the close follow the last chunk', async () => {
    const clock = new ManualClock(0);
    const { ctx } = context(clock);
    const st = new LatencyStage(ctx, 100, 0);
    const seen = collect(st, clock);
    st.push(chunk('a', 0));
    await clock.advance(30);
    st.push(chunk('b', 30));
    st.push(CLOSE);
    await clock.advance(200);
    expect(seen).toEqual([{ at: 100, data: 'a' }, { at: 130, data: 'b' }, { at: 130, close: true }]);
  });

  it('two latency stages add up because each advances the chunk time', async () => {
    const clock = new ManualClock(0);
    const a = new LatencyStage(context(clock).ctx, 500, 0);
    const b = new LatencyStage(context(clock).ctx, 500, 0);
    a.out = (i) => b.push(i);
    const seen = collect(b, clock);
    a.push(chunk('x', 0));
    await clock.advance(2000);
    expect(seen).toEqual([{ at: 1000, data: 'x' }]);
  });

  it('with jitter a chunk never overtakes an earlier one, and delays stay within latency ± jitter', async () => {
    const clock = new ManualClock(0);
    const st = new LatencyStage(context(clock, 7).ctx, 50, 40);
    const seen = collect(st, clock);
    for (let i = 0; i < 50; i++) {
      st.push(chunk(String(i), clock.monotonic()));
      await clock.advance(1);
    }
    await clock.advance(500);
    expect(seen.map((s) => Number(s.data))).toEqual([...Array(50).keys()]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.at).toBeGreaterThanOrEqual(seen[i - 1]!.at);
    expect(seen[0]!.at).toBeGreaterThanOrEqual(10);
    expect(seen[0]!.at).toBeLessThan(90);
  });

  it('drain hands back held chunks with their original read time', async () => {
    const clock = new ManualClock(0);
    const st = new LatencyStage(context(clock).ctx, 1000, 0);
    const seen = collect(st, clock);
    st.push(chunk('a', 0));
    st.push(chunk('b', 0));
    const held = st.drain();
    expect(held.map((h) => (h === CLOSE ? 'close' : h.data.toString() + '@' + h.time))).toEqual(['a@0', 'b@0']);
    await clock.advance(2000);
    expect(seen).toEqual([]);
  });
});

describe('bandwidth stage', () => {
  it('N bytes take about N / (rate*1000) s, cut into rate*100-byte slices', async () => {
    const clock = new ManualClock(0);
    const st = new BandwidthStage(context(clock).ctx, 10); // 10 KB/s = 10 bytes/ms, 1000-byte slices
    const seen = collect(st, clock);
    st.push(chunk('x'.repeat(4800), 0));
    await clock.advance(1000);
    expect(seen.map((s) => s.data!.length)).toEqual([1000, 1000, 1000, 1000, 800]);
    expect(seen.at(-1)!.at).toBe(480);
    expect(seen[0]!.at).toBe(100);
  });

  it('rate 0 holds the data without dropping or closing; drain releases it', async () => {
    const clock = new ManualClock(0);
    const st = new BandwidthStage(context(clock).ctx, 0);
    const seen = collect(st, clock);
    st.push(chunk('held', 0));
    st.push(CLOSE);
    await clock.advance(10_000);
    expect(seen).toEqual([]);
    const held = st.drain();
    expect(held.length).toBe(2);
    expect(held[1]).toBe(CLOSE);
  });
});

describe('slicer', () => {
  it('with size_variation 0, a 24-byte chunk at average_size 1 gives 24 one-byte pieces', () => {
    const cuts = sliceOffsets(24, 1, 0, createRandom(1));
    expect(cuts.length - 1).toBe(24);
  });

  it('480,000 bytes at average 1024 and variation 512 give 240..720 pieces, in order, covering every byte', () => {
    const cuts = sliceOffsets(480_000, 1024, 512, createRandom(3));
    const pieces = cuts.length - 1;
    expect(pieces).toBeGreaterThanOrEqual(240);
    expect(pieces).toBeLessThanOrEqual(720);
    expect(cuts[0]).toBe(0);
    expect(cuts.at(-1)).toBe(480_000);
    for (let i = 1; i < cuts.length; i++) {
      expect(cuts[i]!).toBeGreaterThan(cuts[i - 1]!);
      expect(cuts[i]! - cuts[i - 1]!).toBeLessThanOrEqual(1536);
    }
  });

  it('does not crash where Go does: variation >= average and average <= 0', async () => {
    const cuts = sliceOffsets(10_000, 4, 100, createRandom(9));
    expect(cuts.at(-1)).toBe(10_000);
    const clock = new ManualClock(0);
    const st = new SlicerStage(context(clock).ctx, 0, 0, 0);
    const seen = collect(st, clock);
    st.push(chunk('whole', 0));
    expect(seen).toEqual([{ at: 0, data: 'whole' }]);
  });

  it('sleeps delay µs between pieces and never changes bytes', async () => {
    const clock = new ManualClock(0);
    const st = new SlicerStage(context(clock).ctx, 2, 0, 10_000); // 10 ms between pieces
    const seen = collect(st, clock);
    st.push(chunk('abcdefgh', 0));
    await clock.advance(100);
    expect(seen.map((s) => s.data).join('')).toBe('abcdefgh');
    expect(seen.map((s) => s.at)).toEqual([0, 10, 20, 30]);
  });
});

describe('limit_data', () => {
  it('truncates the chunk that passes the limit and closes right after; the count survives a restart', () => {
    const clock = new ManualClock(0);
    const { ctx, state } = context(clock);
    const a = new LimitDataStage(ctx, 10);
    const seen = collect(a, clock);
    a.push(chunk('123456', 0));
    // An update builds a new stage on the same carry: the count is kept.
    const b = new LimitDataStage(ctx, 10);
    b.out = a.out;
    b.push(chunk('789abc', 0));
    b.push(chunk('zzz', 0));
    expect(seen).toEqual([{ at: 0, data: '123456' }, { at: 0, data: '789a' }, { at: 0, close: true }]);
    expect(state.dropped).toBe(2 + 3);
  });

  it('bytes 0 forwards nothing and closes on the first data chunk, not before', () => {
    const clock = new ManualClock(0);
    const st = new LimitDataStage(context(clock).ctx, 0);
    const seen = collect(st, clock);
    expect(seen).toEqual([]);
    st.push(chunk('x', 0));
    expect(seen).toEqual([{ at: 0, close: true }]);
  });
});

describe('timeout, slow_close, reset_peer', () => {
  it('timeout drops everything and closes after the timeout; removal means close', async () => {
    const clock = new ManualClock(0);
    const { ctx, state } = context(clock);
    const st = new TimeoutStage(ctx, 100);
    const seen = collect(st, clock);
    st.push(chunk('gone', 0));
    await clock.advance(99);
    expect(seen).toEqual([]);
    await clock.advance(1);
    expect(seen).toEqual([{ at: 100, close: true }]);
    expect(state.dropped).toBe(4);
    expect(st.onRemove()).toBe('close');
  });

  it('timeout 0 drops forever and never closes', async () => {
    const clock = new ManualClock(0);
    const st = new TimeoutStage(context(clock).ctx, 0);
    const seen = collect(st, clock);
    st.push(chunk('x', 0));
    await clock.advance(60_000);
    expect(seen).toEqual([]);
  });

  it('slow_close passes data and postpones the close; draining releases the close at once', async () => {
    const clock = new ManualClock(0);
    const st = new SlowCloseStage(context(clock).ctx, 300);
    const seen = collect(st, clock);
    st.push(chunk('d', 0));
    st.push(CLOSE);
    await clock.advance(299);
    expect(seen).toEqual([{ at: 0, data: 'd' }]);
    await clock.advance(1);
    expect(seen.at(-1)).toEqual({ at: 300, close: true });
    const st2 = new SlowCloseStage(context(clock).ctx, 300);
    st2.push(CLOSE);
    expect(st2.drain()).toEqual([CLOSE]);
  });

  it('reset_peer drops the first chunk, waits the timeout, then resets', async () => {
    const clock = new ManualClock(0);
    const { ctx, state } = context(clock);
    const st = new ResetPeerStage(ctx, 50);
    const seen = collect(st, clock);
    st.push(chunk('first', 0));
    await clock.advance(49);
    expect(state.resets).toBe(0);
    await clock.advance(1);
    expect(state.resets).toBe(1);
    expect(seen).toEqual([]);
  });
});

describe('extreme attributes', () => {
  it('huge and negative values neither throw nor fire early', async () => {
    const clock = new ManualClock(0);
    const { ctx } = context(clock);
    const stages: Stage[] = [
      new LatencyStage(ctx, 1e12, 1e12),
      new LatencyStage(ctx, -5, 0),
      new BandwidthStage(ctx, -1),
      new BandwidthStage(ctx, Number.MAX_SAFE_INTEGER),
      new SlicerStage(ctx, 1, Number.MAX_SAFE_INTEGER, -1),
      new SlicerStage(ctx, 3, -10, 0),
      new LimitDataStage(ctx, -3),
      new SlowCloseStage(ctx, 1e15),
      new TimeoutStage(ctx, 1e15),
      new ResetPeerStage(ctx, -1),
    ];
    const seen = stages.map((s) => collect(s, clock));
    for (const s of stages) {
      s.push(chunk('abcdefgh', 0));
      s.push(CLOSE);
    }
    await clock.advance(10_000);
    // Huge latency holds; negative latency emits at once; MAX_SAFE rate passes.
    expect(seen[0]).toEqual([]);
    expect(seen[1]!.map((x) => x.data ?? 'close')).toEqual(['abcdefgh', 'close']);
    expect(seen[3]!.map((x) => x.data ?? 'close').join('')).toBe('abcdefghclose');
    expect(seen[4]!.filter((x) => x.data).map((x) => x.data).join('')).toBe('abcdefgh');
    expect(seen[5]!.filter((x) => x.data).map((x) => x.data).join('')).toBe('abcdefgh');
    expect(seen[6]).toEqual([{ at: 0, close: true }]);
    expect(seen[7]).toEqual([{ at: 0, data: 'abcdefgh' }]);
    for (const s of stages) s.dispose();
  });
});
