import type { Socket } from 'node:net';
import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { CLOSE, InactiveStage, createStage, type Item, type Stage, type StageContext } from './stages.ts';
import type { StreamDirection, ToxicSpec } from './toxics.ts';

/** Pause the source once this many bytes are inside the chain or unwritten. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

interface Entry {
  name: string;
  stage: Stage;
  ctx: StageContext;
}

interface LinkSetup {
  clock: Clock;
  /** A Random per toxic for this link, created once so redraws continue the stream. */
  randomFor(toxicName: string): Random;
  reset(): void;
  /** Called per chunk read; keeps the loop polling briefly (busy-poll.ts). */
  onTraffic?: () => void;
}

/**
 * One direction of one connection: source socket → chain of toxic stages →
 * destination socket. With no toxics the chain is empty and reads go straight
 * to `write`, which is the hot path.
 */
export class Link {
  private readonly entries: Entry[] = [];
  private readonly carries = new Map<string, Record<string, number>>();
  /** Bytes read from the source and not yet written or dropped. */
  private pending = 0;
  private paused = false;
  private destBlocked = false;
  private sourceDone = false;
  private sinkClosed = false;
  private entry: (item: Item) => void;
  private readonly sink = (item: Item): void => this.toSink(item);

  constructor(
    readonly direction: StreamDirection,
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly setup: LinkSetup,
    toxics: readonly ToxicSpec[],
  ) {
    this.entry = this.sink;
    for (const t of toxics) this.add(t);
    source.on('data', (data: Buffer) => this.onData(data));
    const end = () => this.onSourceEnd();
    source.on('end', end);
    source.on('close', end);
    source.on('error', end);
    dest.on('drain', () => {
      this.destBlocked = false;
      this.maybeResume();
    });
  }

  private onData(data: Buffer): void {
    if (this.sourceDone) return;
    this.setup.onTraffic?.();
    if (this.entry === this.sink && !this.sinkClosed) {
      // Hot path with no toxics: no chunk object, no clock read, no accounting.
      if (!this.dest.destroyed && !this.dest.write(data) && !this.destBlocked) {
        this.destBlocked = true;
        if (!this.paused) {
          this.paused = true;
          this.source.pause();
        }
      }
      return;
    }
    this.pending += data.length;
    try {
      this.entry({ data, time: this.setup.clock.monotonic() });
    } catch {
      // A toxic that fails must cost this connection, never the server.
      this.setup.reset();
      return;
    }
    if (this.pending > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.source.pause();
    }
  }

  private onSourceEnd(): void {
    if (this.sourceDone) return;
    this.sourceDone = true;
    this.entry(CLOSE);
  }

  private toSink(item: Item): void {
    if (this.sinkClosed) {
      if (item !== CLOSE) this.release(item.data.length);
      return;
    }
    if (item === CLOSE) {
      this.sinkClosed = true;
      this.closeDest();
      return;
    }
    this.pending -= item.data.length;
    if (this.dest.destroyed) return;
    if (!this.dest.write(item.data) && !this.destBlocked) {
      this.destBlocked = true;
      if (!this.paused) {
        this.paused = true;
        this.source.pause();
      }
    } else this.maybeResume();
  }

  /**
   * Toxiproxy has no half-close: the destination is fully closed once the data
   * ahead of the close is written, which in turn ends the opposite link.
   */
  private closeDest(): void {
    const d = this.dest;
    if (d.destroyed) return;
    d.end(() => d.destroy());
    // A peer that never reads must not keep the socket alive forever.
    const t = this.setup.clock.setTimer(5_000, () => d.destroy());
    d.once('close', () => t.cancel());
  }

  private release(n: number): void {
    this.pending -= n;
    this.maybeResume();
  }

  private maybeResume(): void {
    if (this.paused && !this.destBlocked && this.pending < LOW_WATER && !this.sourceDone) {
      this.paused = false;
      this.source.resume();
    }
  }

  private context(name: string): StageContext {
    let carry = this.carries.get(name);
    if (!carry) {
      carry = {};
      this.carries.set(name, carry);
    }
    return {
      clock: this.setup.clock,
      random: this.setup.randomFor(name),
      carry,
      dropped: (n) => this.release(n),
      reset: () => this.setup.reset(),
    };
  }

  private build(t: ToxicSpec, ctx: StageContext): Stage {
    // Toxicity is drawn per link each time the stage starts (connect, add, update).
    if (ctx.random.next() < t.toxicity) return createStage(t.type, t.attributes, ctx);
    return new InactiveStage(ctx, t.type === 'timeout' ? 'close' : 'flush');
  }

  private targetAfter(index: number): (item: Item) => void {
    const next = this.entries[index + 1];
    return next ? (item) => next.stage.push(item) : this.sink;
  }

  private rewire(index: number): void {
    const target = this.targetAfter(index - 1);
    if (index === 0) this.entry = target;
    else this.entries[index - 1]!.stage.out = target;
  }

  /** Appends a toxic at the end of the chain; data already past the end is not affected. */
  add(t: ToxicSpec): void {
    const ctx = this.context(t.name);
    const stage = this.build(t, ctx);
    this.entries.push({ name: t.name, stage, ctx });
    const i = this.entries.length - 1;
    stage.out = this.sink;
    this.rewire(i);
  }

  /** Restarts a toxic's stage with new attributes; held data is re-fed in order. */
  update(t: ToxicSpec): void {
    const i = this.entries.findIndex((e) => e.name === t.name);
    if (i < 0) return;
    const old = this.entries[i]!;
    const held = old.stage.drain();
    old.stage.dispose();
    const stage = this.build(t, old.ctx);
    stage.out = this.targetAfter(i);
    this.entries[i] = { name: t.name, stage, ctx: old.ctx };
    this.rewire(i);
    for (const item of held) stage.push(item);
  }

  /** Unlinks a toxic. Held data goes on without further delay; timeout's removal closes the link. */
  remove(name: string): void {
    const i = this.entries.findIndex((e) => e.name === name);
    if (i < 0) return;
    const { stage } = this.entries[i]!;
    const held = stage.drain();
    const rule = stage.onRemove();
    stage.dispose();
    const next = this.targetAfter(i);
    this.entries.splice(i, 1);
    this.rewire(i);
    this.carries.delete(name);
    for (const item of held) next(item);
    if (rule === 'close') next(CLOSE);
  }

  dispose(): void {
    for (const e of this.entries) e.stage.dispose();
  }
}

/** One accepted client and its upstream socket, with a link per direction. */
export class Connection {
  private links: Record<StreamDirection, Link> | undefined;
  private done = false;

  constructor(
    readonly id: number,
    readonly client: Socket,
    readonly upstream: Socket,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly onEnd: (c: Connection) => void,
    private readonly onTraffic: () => void = () => {},
  ) {
    client.once('close', () => this.checkEnd());
    upstream.once('close', () => this.checkEnd());
  }

  start(toxics: { upstream: readonly ToxicSpec[]; downstream: readonly ToxicSpec[] }): void {
    const randoms = new Map<string, Random>();
    const setup = (dir: StreamDirection) => ({
      clock: this.clock,
      randomFor: (name: string) => {
        const key = `${name}/${dir}`;
        let r = randoms.get(key);
        if (!r) {
          r = this.random.fork(`${name}/${this.id}/${dir}`);
          randoms.set(key, r);
        }
        return r;
      },
      reset: () => this.reset(),
      onTraffic: this.onTraffic,
    });
    this.links = {
      upstream: new Link('upstream', this.client, this.upstream, setup('upstream'), toxics.upstream),
      downstream: new Link('downstream', this.upstream, this.client, setup('downstream'), toxics.downstream),
    };
  }

  link(dir: StreamDirection): Link | undefined {
    return this.links?.[dir];
  }

  /** RST both peers (reset_peer). */
  reset(): void {
    for (const s of [this.client, this.upstream]) {
      if (s.destroyed) continue;
      try {
        s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
    this.finish();
  }

  /** Close both sockets at once (proxy disabled, deleted or replaced). */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  private checkEnd(): void {
    if (this.client.destroyed && this.upstream.destroyed) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.links?.upstream.dispose();
    this.links?.downstream.dispose();
    this.onEnd(this);
  }
}
