/**
 * Newline framing with a hard line-size limit. An oversized line is reported
 * once and then skipped up to its newline, so a hostile peer cannot make us
 * hold more than `maxBytes` of one line in memory.
 */
export type LineEvent = { line: string } | { tooLong: number };

export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private discarding = false;
  private discarded = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onEvent: (ev: LineEvent) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        this.take(chunk.subarray(start));
        return;
      }
      this.take(chunk.subarray(start, nl));
      this.endLine();
      start = nl + 1;
    }
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.discarding) {
      this.discarded += piece.length;
      return;
    }
    if (this.partBytes + piece.length > this.maxBytes) {
      this.discarding = true;
      this.discarded = this.partBytes + piece.length;
      this.parts = [];
      this.partBytes = 0;
      return;
    }
    this.parts.push(piece);
    this.partBytes += piece.length;
  }

  private endLine(): void {
    if (this.discarding) {
      const n = this.discarded;
      this.discarding = false;
      this.discarded = 0;
      this.onEvent({ tooLong: n });
      return;
    }
    const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    let line = buf.toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length > 0) this.onEvent({ line });
  }

  /** Bytes of the current unfinished line held in memory. */
  buffered(): number {
    return this.partBytes;
  }
}
