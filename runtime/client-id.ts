/**
 * Client order ids. MT5 has no client-order-id field, so the id travels in the
 * 31-character `comment` (mt5-trading.md §0.2). It must be unique across
 * restarts of the same instance and across instances sharing a magic:
 * `<tag>.<epoch36>.<seq36>` where the epoch is the process start time in ms,
 * so a restarted process (even one whose DuckDB was rebuilt) never reuses an id.
 */
export const COMMENT_MAX = 31;

export function idTag(instanceId: string): string {
  return instanceId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8) || 'ea';
}

export class ClientIdGenerator {
  private seq = 0;
  private readonly prefix: string;
  /** Every id of this instance starts with `<tag>.`. */
  readonly tag: string;

  constructor(tag: string, startMs: number) {
    const clean = idTag(tag);
    this.tag = clean;
    this.prefix = `${clean}.${Math.max(0, Math.floor(startMs)).toString(36)}.`;
    // 8 (tag) + 1 + 9 (ms in base 36 until year 5188) + 1 leaves 12 base-36 digits for seq.
    if (this.prefix.length > COMMENT_MAX - 4) throw new RangeError(`client id prefix too long: ${this.prefix}`);
  }

  next(): string {
    this.seq++;
    const id = `${this.prefix}${this.seq.toString(36)}`;
    if (id.length > COMMENT_MAX) throw new RangeError(`client id ${id} exceeds ${COMMENT_MAX} chars`);
    return id;
  }
}

export function isClientId(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= COMMENT_MAX && /^[A-Za-z0-9]{1,8}\.[0-9a-z]+\.[0-9a-z]+$/.test(s);
}
