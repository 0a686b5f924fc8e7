import { hashString } from '../../core/random.ts';
import type { StreamTick, Tick } from '../../runtime/stream/codec.ts';

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const stringHashes = new Map<string, number>();

function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x5bd1e995);
  return h ^ (h >>> 15);
}
function mixNum(h: number, x: number): number {
  // -0 and 0 are the same content (JSON, the history path, drops the sign).
  f64[0] = x === 0 ? 0 : x;
  return mix(mix(h, u32[0]!), u32[1]!);
}
function strHash(s: string | undefined): number {
  if (s === undefined) return 0x2545f491;
  let h = stringHashes.get(s);
  if (h === undefined) {
    h = hashString(s);
    // Symbols and stream names are few; a hostile sender must not grow this without bound.
    if (stringHashes.size < 10_000) stringHashes.set(s, h);
  }
  return h;
}

/**
 * A 30-bit fingerprint of a tick's content (collisions ~1 in 10^9 per compared pair). Hashes the
 * doubles' bits directly: building a string per tick cost more than the rest of the receive path.
 */
export function fingerprint(t: Tick): number {
  let h = strHash(t.symbol);
  h = mixNum(h, t.time_msc);
  h = mixNum(h, t.bid);
  h = mixNum(h, t.ask);
  h = mixNum(h, t.last);
  h = mixNum(h, t.volume);
  h = mix(h, t.flags);
  h = mixNum(h, t.seq ?? -1);
  h = mixNum(h, t.epoch ?? -1);
  h = mix(h, strHash(t.stream));
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

export type Via = 'udp' | 'tcp' | 'history';

export type AcceptOutcome =
  /** First time this seq was seen. */
  | 'new'
  /** First time, and it fills a gap (late reorder or history). */
  | 'filled'
  /** Seen before with the same content: a duplicate datagram, a resend or an overlapping history answer. */
  | 'duplicate'
  /** Seen before with different content: the sender reset its sequence without changing epoch. */
  | 'conflict';

export interface Gap {
  epoch: number;
  from: number;
  to: number;
  /** When (clock ms) the gap was first seen. */
  seenAt: number;
}

export interface ReceivedTick extends StreamTick {
  via: Via;
  receivedAt: number;
}

export interface Anomaly {
  kind: 'conflict' | 'seq_reset' | 'unfillable';
  epoch: number;
  seq?: number;
  from?: number;
  to?: number;
  detail: string;
  at: number;
}

/** Seqs per page of SeqFingerprints (256 KiB). */
const PAGE = 65_536;

/**
 * seq → 30-bit content fingerprint, in pages of a typed array indexed by seq (a stream's seqs are
 * dense). A Map of a few hundred thousand entries rehashes everything, synchronously, each time it
 * doubles: 20-90 ms stalls of the consumer at 60k ticks/s. Pages are allocated one at a time and
 * dropped whole once forgotten, and the GC sees a few flat buffers.
 */
export class SeqFingerprints {
  private readonly pages = new Map<number, { fp: Uint32Array; count: number }>();
  size = 0;

  get(seq: number): number | undefined {
    const page = this.pages.get(Math.floor(seq / PAGE));
    const v = page ? page.fp[seq % PAGE]! : 0;
    return v === 0 ? undefined : v - 1;
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  /** `fp` is below 2^30; stored plus one, so that 0 means "not received". */
  set(seq: number, fp: number): void {
    const no = Math.floor(seq / PAGE);
    let page = this.pages.get(no);
    if (!page) {
      page = { fp: new Uint32Array(PAGE), count: 0 };
      this.pages.set(no, page);
    }
    const i = seq % PAGE;
    if (page.fp[i] === 0) {
      page.count++;
      this.size++;
    }
    page.fp[i] = fp + 1;
  }

  /** Forget every seq in from..to (inclusive). */
  deleteRange(from: number, to: number): void {
    if (to < from) return;
    for (const [no, page] of this.pages) {
      const lo = Math.max(from, no * PAGE);
      const hi = Math.min(to, no * PAGE + PAGE - 1);
      if (lo > hi) continue;
      if (lo === no * PAGE && hi === no * PAGE + PAGE - 1) {
        this.size -= page.count;
        this.pages.delete(no);
        continue;
      }
      for (let q = lo; q <= hi; q++) {
        if (page.fp[q % PAGE] !== 0) {
          page.fp[q % PAGE] = 0;
          page.count--;
          this.size--;
        }
      }
      if (page.count === 0) this.pages.delete(no);
    }
  }
}

interface EpochState {
  /** seq → 30-bit content fingerprint: small integers, not tick objects, in flat pages (see SeqFingerprints). */
  ticks: SeqFingerprints;
  /** Seqs at or below this were received and their content forgotten (memory bound). */
  forgottenBelow: number;
  highest: number;
  /** Open gaps, sorted, disjoint, each inside 1..highest. */
  gaps: Gap[];
}

/**
 * Receiver-side sequence bookkeeping per epoch: what arrived, what is missing,
 * and what looked wrong. Nothing is dropped silently: a conflicting tick is kept
 * in the anomaly list with its content.
 */
export class SequenceTracker {
  private readonly epochs = new Map<number, EpochState>();
  readonly anomalies: Anomaly[] = [];
  readonly counts = { new: 0, filled: 0, duplicate: 0, conflict: 0, seqReset: 0 };
  private inConflict = false;

  /**
   * `retainTicks` bounds memory: past it, the content of the oldest fully received seqs is
   * forgotten (a later copy of one of them counts as a duplicate without a content check).
   */
  constructor(private readonly opts: { backfillFromStart?: boolean; retainTicks?: number } = {}) {}

  private state(epoch: number, at: number, firstSeq: number): EpochState {
    let s = this.epochs.get(epoch);
    if (!s) {
      s = { ticks: new SeqFingerprints(), forgottenBelow: 0, highest: 0, gaps: [] };
      // A consumer that joins late owes nothing before its first tick unless asked to backfill.
      if (!(this.opts.backfillFromStart ?? true)) s.highest = Math.max(0, firstSeq - 1);
      this.epochs.set(epoch, s);
      void at;
    }
    return s;
  }

  accept(st: StreamTick, at: number): AcceptOutcome {
    const s = this.state(st.epoch, at, st.seq);
    if (st.seq <= s.forgottenBelow) {
      this.counts.duplicate++;
      return 'duplicate';
    }
    const fp = fingerprint(st.tick);
    const prev = s.ticks.get(st.seq);
    if (prev !== undefined) {
      if (prev === fp) {
        this.counts.duplicate++;
        return 'duplicate';
      }
      this.counts.conflict++;
      // The first conflict of a run marks a sequence reset without an epoch change; each tick is kept too.
      if (!this.inConflict) {
        this.counts.seqReset++;
        this.anomalies.push({ kind: 'seq_reset', epoch: st.epoch, seq: st.seq, detail: `seq ${st.seq} of epoch ${st.epoch} reused for other content: the sender restarted its sequence without a new epoch`, at });
      }
      this.inConflict = true;
      this.anomalies.push({ kind: 'conflict', epoch: st.epoch, seq: st.seq, detail: `seq ${st.seq} arrived again with different content: ${JSON.stringify(st.tick)}`, at });
      return 'conflict';
    }
    s.ticks.set(st.seq, fp);
    this.inConflict = false;
    const retain = this.opts.retainTicks ?? 2_000_000;
    if (s.ticks.size > retain) this.forget(s, retain);
    if (st.seq > s.highest) {
      if (st.seq > s.highest + 1) s.gaps.push({ epoch: st.epoch, from: s.highest + 1, to: st.seq - 1, seenAt: at });
      s.highest = st.seq;
      this.counts.new++;
      return 'new';
    }
    if (removeFromGaps(s.gaps, st.seq)) {
      this.counts.filled++;
      return 'filled';
    }
    // Below highest, not seen, not in a gap: only possible below a late-join baseline.
    this.counts.new++;
    return 'new';
  }

  private forget(s: EpochState, retain: number): void {
    const contiguous = s.gaps.length ? Math.min(...s.gaps.map((g) => g.from)) - 1 : s.highest;
    const upTo = Math.min(contiguous, s.highest - Math.floor(retain / 2));
    s.ticks.deleteRange(s.forgottenBelow + 1, upTo);
    s.forgottenBelow = Math.max(s.forgottenBelow, upTo);
  }

  /** The sender says it has published up to `lastSeq`: a lost tail becomes a gap; going backwards is a reset. */
  noteLastSeq(epoch: number, lastSeq: number, at: number): void {
    const s = this.state(epoch, at, lastSeq + 1);
    if (lastSeq > s.highest) {
      s.gaps.push({ epoch, from: s.highest + 1, to: lastSeq, seenAt: at });
      s.highest = lastSeq;
    }
    // A ping's lastSeq may trail ticks that came by the other path: behind is normal here.
  }

  /**
   * A TCP hello carries the sender's seq when it connected. It can be processed
   * after UDP ticks sent later, so a hello behind what was received proves
   * nothing; a sequence reset shows as conflicting content (see accept()).
   */
  noteHello(epoch: number, lastSeq: number, at: number): void {
    this.noteLastSeq(epoch, lastSeq, at);
  }

  /** Mark a range the sender could not supply (pruned, unknown): reported, not retried. */
  markUnfillable(epoch: number, from: number, to: number, detail: string, at: number): void {
    const s = this.epochs.get(epoch);
    if (!s) return;
    for (let q = from; q <= to; q++) if (!this.has(epoch, q)) removeFromGaps(s.gaps, q);
    this.anomalies.push({ kind: 'unfillable', epoch, from, to, detail, at });
  }

  /** Number of open gap ranges (cheap: no copies). */
  openGaps(): number {
    let n = 0;
    for (const s of this.epochs.values()) n += s.gaps.length;
    return n;
  }

  gaps(): Gap[] {
    const out: Gap[] = [];
    for (const s of this.epochs.values()) out.push(...s.gaps.map((g) => ({ ...g })));
    return out;
  }

  missingCount(): number {
    let n = 0;
    for (const s of this.epochs.values()) for (const g of s.gaps) n += g.to - g.from + 1;
    return n;
  }

  highest(epoch: number): number {
    return this.epochs.get(epoch)?.highest ?? 0;
  }

  /** Highest seq with every seq up to it received (or given up on). */
  contiguous(epoch: number): number {
    const s = this.epochs.get(epoch);
    if (!s) return 0;
    return s.gaps.length ? Math.min(...s.gaps.map((g) => g.from)) - 1 : s.highest;
  }

  has(epoch: number, seq: number): boolean {
    const s = this.epochs.get(epoch);
    if (!s) return false;
    return (seq >= 1 && seq <= s.forgottenBelow) || s.ticks.has(seq);
  }

  epochList(): number[] {
    return [...this.epochs.keys()];
  }

  received(epoch: number): number {
    const s = this.epochs.get(epoch);
    return s ? s.ticks.size + s.forgottenBelow : 0;
  }
}

function removeFromGaps(gaps: Gap[], seq: number): boolean {
  for (let i = 0; i < gaps.length; i++) {
    const g = gaps[i]!;
    if (seq < g.from || seq > g.to) continue;
    if (g.from === g.to) gaps.splice(i, 1);
    else if (seq === g.from) g.from++;
    else if (seq === g.to) g.to--;
    else gaps.splice(i, 1, { ...g, to: seq - 1 }, { ...g, from: seq + 1 });
    return true;
  }
  return false;
}
