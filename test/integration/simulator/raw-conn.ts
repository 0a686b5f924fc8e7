import { connect, type Socket } from 'node:net';

/** A bare TCP line connection, for sending bytes the typed client never would. */
export class RawConn {
  private buf = '';
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static open(host: string, port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawConn(s));
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Next answer line, or throw after `ms`. */
  next(ms = 5000): Promise<unknown> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(JSON.parse(l));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line within ${ms} ms`)), ms);
      this.waiters.push((line) => {
        clearTimeout(t);
        resolve(JSON.parse(line));
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
