import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import type { ToxicType } from './toxics.ts';

/**
 * A chunk is one socket read. `time` is the monotonic ms at which it was read;
 * latency stages advance it, so stacked latency toxics add up as in Toxiproxy.
 */
export interface Chunk {
  data: Buffer;
  time: number;
}

/** Node fires timers longer than 2^31-1 ms after 1 ms; clamp (schedule stages re-arm until due). */
const MAX_TIMER_MS = 2 ** 31 - 1;
export function timerMs(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

/** The close sentinel travels behind the data queued ahead of it. */
export const CLOSE = Symbol('close');
export type Item = Chunk | typeof CLOSE;

export interface StageContext {
  clock: Clock;
  /** This toxic's stream for this link: toxicity draws, jitter, slicer midpoints. */
  random: Random;
  /** State that survives an update of the toxic on this link (limit_data's count). */
  carry: Record<string, number>;
  /** Bytes a stage discarded on purpose, so the link's backpressure accounting stays right. */
  dropped(bytes: number): void;
  /** Reset both sockets of the connection (RST). */
  reset(): void;
}

/**
 * One toxic on one link. Stages are wired by `out`, which the link rewires when
 * toxics are added or removed; a stage must read `this.out` at emit time.
 */
export abstract class Stage {
  out: (item: Item) => void = () => {};
  protected closed = false;
  protected disposed = false;

  constructor(protected readonly ctx: StageContext) {}

  abstract push(item: Item): void;

  /** Stops timers and hands back every held item, in order (for remove and update). */
  drain(): Item[] {
    return [];
  }

  /** What removing this toxic does to the link: hand held data on, or close the connection. */
  onRemove(): 'flush' | 'close' {
    return 'flush';
  }

  dispose(): void {
    this.disposed = true;
    this.drain();
  }
}

export class PassStage extends Stage {
  push(item: Item): void {
    if (this.closed) return;
    if (item === CLOSE) this.closed = true;
    this.out(item);
  }
}

interface Scheduled {
  item: Item;
  at: number;
}

/**
 * Emits items in order at non-decreasing times with one timer for the head.
 * Items already due go out synchronously, so zero delays add no latency.
 */
abstract class ScheduleStage extends Stage {
  private queue: Scheduled[] = [];
  private head = 0;
  private timer: TimerHandle | undefined;
  protected lastAt = -Infinity;

  protected enqueue(item: Item, at: number): void {
    const t = Math.max(at, this.lastAt);
    this.lastAt = t;
    this.queue.push({ item, at: t });
    if (!this.timer) this.pump();
  }

  protected emit(item: Item, _at: number): void {
    this.out(item);
  }

  /** CLOSE queues behind everything already scheduled; data goes to the stage's own `schedule`. */
  push(item: Item): void {
    if (this.closed) return;
    if (item === CLOSE) {
      this.closed = true;
      this.enqueue(CLOSE, this.closeAt());
      return;
    }
    this.schedule(item);
  }

  protected abstract schedule(item: Chunk): void;

  /** When a CLOSE is due; by default right after what is queued (enqueue keeps times non-decreasing). */
  protected closeAt(): number {
    return -Infinity;
  }

  private pump(): void {
    while (this.head < this.queue.length && !this.disposed) {
      const e = this.queue[this.head]!;
      const now = this.ctx.clock.monotonic();
      if (e.at > now) {
        if (Number.isFinite(e.at)) {
          this.timer = this.ctx.clock.setTimer(timerMs(e.at - now), () => {
            this.timer = undefined;
            this.pump();
          });
        }
        return;
      }
      this.head++;
      this.emit(e.item, e.at);
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  override drain(): Item[] {
    this.timer?.cancel();
    this.timer = undefined;
    const held = this.queue.slice(this.head).map((e) => e.item);
    this.queue = [];
    this.head = 0;
    this.lastAt = -Infinity;
    return held;
  }
}

export class LatencyStage extends ScheduleStage {
  constructor(
    ctx: StageContext,
    private readonly latency: number,
    private readonly jitter: number,
  ) {
    super(ctx);
  }

  protected schedule(item: Chunk): void {
    let delay = this.latency;
    if (this.jitter > 0) delay += this.ctx.random.next() * 2 * this.jitter - this.jitter;
    this.enqueue(item, item.time + delay);
  }

  protected override emit(item: Item, at: number): void {
    if (item !== CLOSE && at > item.time) item.time = at;
    this.out(item);
  }
}

export class BandwidthStage extends ScheduleStage {
  constructor(
    ctx: StageContext,
    private readonly rate: number,
  ) {
    super(ctx);
  }

  protected schedule(item: Chunk): void {
    // rate <= 0 holds the data until the toxic is updated or removed (users rely on it).
    if (this.rate <= 0) {
      this.enqueue(item, Infinity);
      return;
    }
    const sliceBytes = this.rate * 100;
    let t = Math.max(this.ctx.clock.monotonic(), this.lastAt);
    for (let off = 0; off < item.data.length; off += sliceBytes) {
      const data = item.data.subarray(off, Math.min(off + sliceBytes, item.data.length));
      t += data.length / this.rate;
      this.enqueue({ data, time: item.time }, t);
    }
  }
}

export class SlicerStage extends ScheduleStage {
  private nextStart = -Infinity;

  constructor(
    ctx: StageContext,
    private readonly averageSize: number,
    private readonly sizeVariation: number,
    private readonly delayUs: number,
  ) {
    super(ctx);
  }

  protected override closeAt(): number {
    return this.nextStart;
  }

  protected schedule(item: Chunk): void {
    // Go recurses forever on average_size <= 0; pass whole chunks instead.
    if (this.averageSize <= 0) {
      this.enqueue(item, this.nextStart);
      return;
    }
    const cuts = sliceOffsets(item.data.length, this.averageSize, Math.max(0, this.sizeVariation), this.ctx.random);
    const d = Math.max(0, this.delayUs) / 1000;
    let t = Math.max(this.ctx.clock.monotonic(), this.nextStart);
    for (let k = 1; k < cuts.length; k++) {
      this.enqueue({ data: item.data.subarray(cuts[k - 1], cuts[k]), time: item.time }, t);
      t += d;
    }
    this.nextStart = t;
  }

  override drain(): Item[] {
    this.nextStart = -Infinity;
    return super.drain();
  }
}

/**
 * Toxiproxy's recursive halving with a jittered midpoint, done iteratively and
 * with the midpoint clamped inside the piece (Go can panic or overflow the stack here).
 * Returns cut offsets [0, ..., len].
 */
export function sliceOffsets(len: number, averageSize: number, sizeVariation: number, random: Random): number[] {
  const cuts = [0];
  const max = averageSize + sizeVariation;
  const stack: Array<[number, number]> = [[0, len]];
  while (stack.length > 0) {
    const [start, end] = stack.pop()!;
    if (end - start <= max) {
      if (end > start) cuts.push(end);
      continue;
    }
    let mid = start + Math.floor((end - start) / 2);
    if (sizeVariation > 0) mid += random.int(0, 2 * sizeVariation - 1) - sizeVariation;
    mid = Math.min(end - 1, Math.max(start + 1, mid));
    // Right first on the stack so the left piece is cut (and emitted) first.
    stack.push([mid, end], [start, mid]);
  }
  return cuts;
}

export class SlowCloseStage extends Stage {
  private timer: TimerHandle | undefined;
  private holdingClose = false;

  constructor(
    ctx: StageContext,
    private readonly delay: number,
  ) {
    super(ctx);
  }

  push(item: Item): void {
    if (this.closed) return;
    if (item !== CLOSE) {
      this.out(item);
      return;
    }
    this.closed = true;
    this.holdingClose = true;
    this.timer = this.ctx.clock.setTimer(timerMs(this.delay), () => {
      this.timer = undefined;
      this.holdingClose = false;
      this.out(CLOSE);
    });
  }

  /** Removing it while the close waits closes the connection at once. */
  override drain(): Item[] {
    this.timer?.cancel();
    this.timer = undefined;
    if (!this.holdingClose) return [];
    this.holdingClose = false;
    return [CLOSE];
  }
}

export class TimeoutStage extends Stage {
  private timer: TimerHandle | undefined;

  constructor(
    ctx: StageContext,
    timeout: number,
  ) {
    super(ctx);
    // An absolute timer from stage start (Go's restarts on each chunk; see docs/fault-proxy.md).
    if (timeout > 0) {
      this.timer = ctx.clock.setTimer(timerMs(timeout), () => {
        this.timer = undefined;
        if (this.closed || this.disposed) return;
        this.closed = true;
        this.out(CLOSE);
      });
    }
  }

  push(item: Item): void {
    if (this.closed) return;
    if (item === CLOSE) {
      this.closed = true;
      this.timer?.cancel();
      this.out(CLOSE);
      return;
    }
    this.ctx.dropped(item.data.length);
  }

  override drain(): Item[] {
    this.timer?.cancel();
    this.timer = undefined;
    return [];
  }

  override onRemove(): 'flush' | 'close' {
    return 'close';
  }
}

export class ResetPeerStage extends Stage {
  private timer: TimerHandle | undefined;
  private triggered = false;

  constructor(
    ctx: StageContext,
    private readonly timeout: number,
  ) {
    super(ctx);
  }

  push(item: Item): void {
    if (item !== CLOSE) this.ctx.dropped(item.data.length);
    if (this.triggered || this.closed) return;
    this.triggered = true;
    this.timer = this.ctx.clock.setTimer(timerMs(this.timeout), () => {
      this.timer = undefined;
      if (!this.disposed) this.ctx.reset();
    });
  }

  override drain(): Item[] {
    this.timer?.cancel();
    this.timer = undefined;
    return [];
  }

  /** Go blocks the API until the wait ends and then resets; we reset at once instead. */
  override onRemove(): 'flush' | 'close' {
    if (this.triggered && this.timer) {
      this.timer.cancel();
      this.timer = undefined;
      this.ctx.reset();
    }
    return 'flush';
  }
}

export class LimitDataStage extends Stage {
  constructor(
    ctx: StageContext,
    private readonly bytes: number,
  ) {
    super(ctx);
    ctx.carry.limitCount ??= 0;
  }

  push(item: Item): void {
    if (this.closed) {
      if (item !== CLOSE) this.ctx.dropped(item.data.length);
      return;
    }
    if (item === CLOSE) {
      this.closed = true;
      this.out(CLOSE);
      return;
    }
    const remaining = Math.max(0, this.bytes) - (this.ctx.carry.limitCount ?? 0);
    let chunk = item;
    if (chunk.data.length > remaining) {
      const keep = Math.max(0, remaining);
      this.ctx.dropped(chunk.data.length - keep);
      chunk = { data: chunk.data.subarray(0, keep), time: chunk.time };
    }
    if (chunk.data.length > 0) {
      this.ctx.carry.limitCount = (this.ctx.carry.limitCount ?? 0) + chunk.data.length;
      this.out(chunk);
    }
    if ((this.ctx.carry.limitCount ?? 0) >= Math.max(0, this.bytes)) {
      this.closed = true;
      this.out(CLOSE);
    }
  }
}

export function createStage(type: ToxicType, attributes: Record<string, number>, ctx: StageContext): Stage {
  const a = (k: string) => attributes[k] ?? 0;
  switch (type) {
    case 'latency':
      return new LatencyStage(ctx, a('latency'), a('jitter'));
    case 'bandwidth':
      return new BandwidthStage(ctx, a('rate'));
    case 'slow_close':
      return new SlowCloseStage(ctx, a('delay'));
    case 'timeout':
      return new TimeoutStage(ctx, a('timeout'));
    case 'reset_peer':
      return new ResetPeerStage(ctx, a('timeout'));
    case 'slicer':
      return new SlicerStage(ctx, a('average_size'), a('size_variation'), a('delay'));
    case 'limit_data':
      return new LimitDataStage(ctx, a('bytes'));
    case 'noop':
      return new PassStage(ctx);
  }
}

/** A stage whose toxicity draw failed: data passes, but removal keeps the toxic's close rule. */
export class InactiveStage extends PassStage {
  constructor(
    ctx: StageContext,
    private readonly removal: 'flush' | 'close',
  ) {
    super(ctx);
  }
  override onRemove(): 'flush' | 'close' {
    return this.removal;
  }
}
