import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { QuoteCache } from '../../../runtime/quotes.ts';
import { startFeed } from '../../../simulator/feed/server.ts';
import { FeedClient, type FeedInputError } from '../../../simulator/protocol/feed-client.ts';
import { FeedFrameEncoder } from '../../../simulator/protocol/feed-frames.ts';
import type { Tick } from '../../../simulator/protocol/types.ts';

const key = (t: Tick) => `${t.stream}:${t.epoch}:${t.seq}`;

/** A stand-in feed on a free loopback port: `onSubscriber` writes whatever the test needs. */
async function fakeFeed(onSubscriber: (s: Socket, subscribeLine: string) => void): Promise<Server & AsyncDisposable> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write(`${JSON.stringify({ hello: { epoch: 1, symbols: ['EURUSD'], time_msc: 1 } })}\n`);
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) onSubscriber(s, buf.slice(0, nl));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return Object.assign(srv, {
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  });
}
const portOf = (srv: Server) => (srv.address() as { port: number }).port;
const tick = (seq: number): Tick => ({ stream: 'EURUSD', seq, epoch: 1, symbol: 'EURUSD', bid: 1.1, ask: 1.2, last: 0, volume: 0, volume_real: 0, time_msc: 1000 + seq, flags: 6 });

describe('feed binary frames over TCP', () => {
  it('a binary and a JSON subscriber get the same ticks, equal to the feed record (all symbols and a filter)', async () => {
    await using feed = await startFeed({ seed: 12, port: 0, ticksPerSecond: 4000 });
    const bin: Tick[] = [];
    const json: Tick[] = [];
    const jpy: Tick[] = [];
    const bad: FeedInputError[] = [];
    await using b = await FeedClient.connect({ host: feed.host, port: feed.port, binary: true, onTick: (t) => bin.push(t), onBadInput: (e) => bad.push(e) });
    await using j = await FeedClient.connect({ host: feed.host, port: feed.port, onTick: (t) => json.push(t) });
    await using f = await FeedClient.connect({ host: feed.host, port: feed.port, binary: true, symbols: ['USDJPY'], onTick: (t) => jpy.push(t) });
    await waitFor(() => (b.encoding === 'binary' && f.encoding === 'binary' && bin.length > 2000 && jpy.length > 100 ? true : undefined), { what: 'ticks', timeoutMs: 10_000 });
    await feed.stop();
    await waitFor(() => (b.isClosed && j.isClosed && f.isClosed ? true : undefined), { what: 'closed', timeoutMs: 5000 });
    const emitted = new Map(feed.emitted().map((t) => [key(t), t]));
    for (const t of bin) expect(emitted.get(key(t))).toEqual(t);
    for (const t of jpy) expect(emitted.get(key(t))).toEqual(t);
    // Both saw the whole stream from their first tick on, in the same order.
    const from = json.findIndex((t) => key(t) === key(bin[0]!));
    expect(from).toBeGreaterThanOrEqual(0);
    expect(bin.map(key)).toEqual(json.slice(from).map(key));
    const firstJpy = jpy.findIndex((t) => t.symbol === 'USDJPY');
    expect(jpy.slice(firstJpy).every((t) => t.symbol === 'USDJPY')).toBe(true);
    expect(b.stats()).toMatchObject({ encoding: 'binary', badFrames: 0, seqGapTicks: 0, seqRegressions: 0 });
    expect(bad).toEqual([]);
    expect(j.encoding).toBe('json');
  });

  it('a feed that ignores the encoding request keeps JSON lines, and the client reads them', async () => {
    let sub = '';
    await using srv = await fakeFeed((s, line) => {
      sub = line;
      s.write(`${[1, 2, 3].map((i) => JSON.stringify(tick(i))).join('\n')}\n`);
    });
    const got: Tick[] = [];
    await using c = await FeedClient.connect({ host: '127.0.0.1', port: portOf(srv), binary: true, onTick: (t) => got.push(t) });
    await waitFor(() => (got.length === 3 ? true : undefined), { what: '3 JSON ticks', timeoutMs: 5000 });
    expect(JSON.parse(sub)).toEqual({ op: 'subscribe', encoding: 'binary' });
    expect(got).toEqual([tick(1), tick(2), tick(3)]);
    expect(c.encoding).toBe('json');
  });

  it('JSON ticks before the ack, binary after it in the same chunk: all delivered, in order', async () => {
    await using srv = await fakeFeed((s) => {
      const enc = new FeedFrameEncoder();
      const frames = enc.ticksFrames([tick(3), tick(4)])!;
      s.write(Buffer.concat([Buffer.from(`${JSON.stringify(tick(1))}\n${JSON.stringify(tick(2))}\n{"encoding":"binary","version":1}\n`), enc.stringsFrame(0)!, frames]));
    });
    const got: Tick[] = [];
    await using c = await FeedClient.connect({ host: '127.0.0.1', port: portOf(srv), binary: true, onTick: (t) => got.push(t) });
    await waitFor(() => (got.length === 4 ? true : undefined), { what: '4 ticks', timeoutMs: 5000 });
    expect(got).toEqual([1, 2, 3, 4].map(tick));
    expect(c.encoding).toBe('binary');
  });

  it('a garbled frame is reported and closes the connection; the frames before it are delivered; nothing crashes', async () => {
    await using srv = await fakeFeed((s) => {
      const enc = new FeedFrameEncoder();
      const good = enc.ticksFrames([tick(1), tick(2)])!;
      const garbled = Buffer.from(enc.ticksFrames([tick(3)])!);
      garbled[40] = garbled[40]! ^ 0x10;
      s.write(Buffer.concat([Buffer.from('{"encoding":"binary","version":1}\n'), enc.stringsFrame(0)!, good, garbled, enc.ticksFrames([tick(4)])!]));
    });
    const got: Tick[] = [];
    const bad: FeedInputError[] = [];
    let closedWith: Error | undefined;
    let closed = false;
    await using c = await FeedClient.connect({
      host: '127.0.0.1',
      port: portOf(srv),
      binary: true,
      onTick: (t) => got.push(t),
      onBadInput: (e) => bad.push(e),
      onClose: (e) => {
        closed = true;
        closedWith = e;
      },
    });
    await waitFor(() => (closed ? true : undefined), { what: 'client closed the connection', timeoutMs: 5000 });
    expect(got).toEqual([tick(1), tick(2)]);
    expect(bad.map((e) => e.code)).toEqual(['E_CRC']);
    expect(closedWith?.message).toMatch(/bad binary frame \(E_CRC\)/);
    expect(c.stats()).toMatchObject({ badFrames: 1, ticks: 2 });
  });

  it('a connection that ends inside a frame is reported as truncated', async () => {
    await using srv = await fakeFeed((s) => {
      const enc = new FeedFrameEncoder();
      const f = enc.ticksFrames([tick(1), tick(2)])!;
      s.end(Buffer.concat([Buffer.from('{"encoding":"binary","version":1}\n'), enc.stringsFrame(0)!, f.subarray(0, f.length - 5)]));
    });
    const bad: FeedInputError[] = [];
    let closedWith: Error | undefined;
    let closed = false;
    await using _c = await FeedClient.connect({ host: '127.0.0.1', port: portOf(srv), binary: true, onTick: () => undefined, onBadInput: (e) => bad.push(e), onClose: (e) => ((closed = true), (closedWith = e)) });
    await waitFor(() => (closed ? true : undefined), { what: 'closed', timeoutMs: 5000 });
    expect(bad.map((e) => e.code)).toEqual(['E_TRUNCATED']);
    expect(closedWith?.message).toMatch(/inside a binary frame/);
  });

  it('garbage from a subscriber does not disturb the feed or its other subscribers', async () => {
    await using feed = await startFeed({ seed: 13, port: 0, ticksPerSecond: 2000 });
    const raw = connect({ host: feed.host, port: feed.port });
    raw.on('error', () => undefined);
    await new Promise<void>((r) => raw.once('connect', () => r()));
    raw.write(Buffer.from([0xea, 0xfd, 1, 2, 0xff, 0xff, 0xff, 0xff, 10, 0, 123, 10]));
    raw.write('{"op":"subscribe","encoding":"binary","symbols":"EURUSD"}\n{"op":"subscribe","encoding":7}\n');
    const got: Tick[] = [];
    await using c = await FeedClient.connect({ host: feed.host, port: feed.port, binary: true, onTick: (t) => got.push(t) });
    await waitFor(() => (got.length > 200 ? true : undefined), { what: 'ticks', timeoutMs: 5000 });
    expect(c.stats()).toMatchObject({ badFrames: 0, seqGapTicks: 0 });
    raw.destroy();
  });

  it("the runtime's QuoteCache reads the feed in binary and keeps the latest quote", async () => {
    await using feed = await startFeed({ seed: 14, port: 0, ticksPerSecond: 1000 });
    const events = new EventBus(systemClock, { capacity: 100 });
    await using q = new QuoteCache({ host: feed.host, port: feed.port, clock: systemClock, events, log: silentLogger, reconnectMs: 100 }).start();
    await waitFor(() => (q.feedEncoding === 'binary' && q.latest.size === 3 ? true : undefined), { what: 'binary quotes', timeoutMs: 5000 });
    const eur = q.latest.get('EURUSD')!;
    expect(feed.emitted('EURUSD').find((t) => t.seq === eur.seq)).toEqual(eur);
  });
});
