import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../../../simulator/broker/server.ts';
import { startFeed, type FeedHandle } from '../../../simulator/feed/server.ts';
import { BrokerClient, BrokerConnectionError } from '../../../simulator/protocol/broker-client.ts';
import { waitFor } from '../../../core/wait.ts';
import { MAX_LINE_BYTES } from '../../../simulator/protocol/types.ts';
import { RawConn } from './raw-conn.ts';

let feed: FeedHandle;
let broker: BrokerHandle;
let raw: RawConn;

beforeAll(async () => {
  feed = await startFeed({ seed: 21, port: 0, ticksPerSecond: 300 });
  broker = await startBroker({ seed: 21, port: 0, feed });
  raw = await RawConn.open(broker.host, broker.port);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
  await feed?.stop();
});

describe('broker protocol over TCP', () => {
  it('fills at a price the feed actually emitted', async () => {
    await using client = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const tick = await client.request('symbol_info_tick', { symbol: 'EURUSD' });
    expect(tick).not.toBeNull();
    const r = await client.orderSend({ action: 1, symbol: 'EURUSD', volume: 0.1, type: 0, price: tick!.ask, deviation: 100_000, comment: 'feedfill' });
    expect(r.retcode).toBe(10009);
    const asks = new Set(feed.emitted('EURUSD').map((t) => t.ask));
    expect(asks.has(r.price)).toBe(true);
    const info = await client.request('symbol_info', { symbol: 'EURUSD' });
    expect(info).toMatchObject({ name: 'EURUSD', digits: 5, point: 0.00001, volume_min: 0.01, volume_step: 0.01, trade_stops_level: 10 });
    const acct = await client.request('account_info', {});
    expect(acct.margin_mode).toBe(2);
  });

  it('echoes any id, answers unknown ops, bad JSON and unknown symbols with named errors, and keeps the connection', async () => {
    raw.write('{"id":"x-1","op":"ping"}\n');
    expect(await raw.next()).toMatchObject({ id: 'x-1', ok: true });
    raw.write('not json\n');
    expect(await raw.next()).toMatchObject({ id: null, ok: false, error: { code: 'E_PARSE' } });
    raw.write('{"id":2,"op":"order_sned"}\n');
    expect(await raw.next()).toMatchObject({ id: 2, ok: false, error: { code: 'E_UNKNOWN_OP', message: expect.stringContaining('order_sned') } });
    raw.write('{"id":3,"op":"symbol_info","symbol":"NOPE"}\n');
    expect(await raw.next()).toMatchObject({ id: 3, ok: false, error: { code: 'E_UNKNOWN_SYMBOL', message: expect.stringContaining('NOPE') } });
    raw.write('{"id":4,"op":"ping"}\n');
    expect(await raw.next()).toMatchObject({ id: 4, ok: true });
  });

  it('rejects an oversized line without buffering it whole, then serves the next line', async () => {
    const before = broker.ledger.requests.length;
    const chunk = 'x'.repeat(16 * 1024);
    raw.write('{"id":9,"op":"order_send","request":{"comment":"');
    for (let i = 0; i < 64; i++) raw.write(chunk); // 1 MiB, 16x the limit
    raw.write('"}}\n{"id":10,"op":"ping"}\n');
    const err = (await raw.next()) as { error: { message: string } };
    expect(err).toMatchObject({ id: null, ok: false, error: { code: 'E_LINE_TOO_LONG' } });
    expect(err.error.message).toContain(String(MAX_LINE_BYTES));
    expect(await raw.next()).toMatchObject({ id: 10, ok: true });
    expect(broker.ledger.requests.length).toBe(before);
  });

  it('fuzz: malformed, wrongly typed and random lines get an error answer, the connection stays usable, the ledger is untouched', async () => {
    const line = fc
      .oneof(
        fc.string({ minLength: 1 }),
        fc.json(),
        fc.record({ id: fc.integer(), op: fc.string() }).map((o) => JSON.stringify(o)),
        fc
          .record({
            id: fc.integer({ min: 1 }),
            op: fc.constantFrom('order_send', 'order_check', 'history_deals_get', 'symbol_info'),
            request: fc.record({ action: fc.jsonValue(), volume: fc.oneof(fc.string(), fc.boolean(), fc.constant(null)), symbol: fc.jsonValue() }),
            symbol: fc.oneof(fc.integer(), fc.constant(null)),
            magic: fc.oneof(fc.string(), fc.double()),
          })
          .map((o) => JSON.stringify(o)),
      )
      .map((s) => s.replace(/[\r\n]/g, ' '))
      .filter((s) => s.trim().length > 0);
    await fc.assert(
      fc.asyncProperty(line, async (l) => {
        const ledgerBefore = JSON.stringify(broker.ledger.snapshot());
        raw.write(`${l}\n`);
        const ans = (await raw.next()) as { ok: boolean; error?: { code: string; message: string } };
        expect(ans.ok).toBe(false);
        expect(ans.error!.message.length).toBeGreaterThan(0);
        raw.write('{"id":"alive","op":"ping"}\n');
        expect(await raw.next()).toMatchObject({ id: 'alive', ok: true });
        expect(JSON.stringify(broker.ledger.snapshot())).toBe(ledgerBefore);
      }),
      { numRuns: 150 },
    );
    expect(raw.closed).toBe(false);
  });

  it('pipelined requests are all answered and matched by id', async () => {
    await using client = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.orderSend({ action: 1, symbol: 'GBPUSD', volume: 0.01, type: i % 2, deviation: 100_000, price: 1.265, comment: `pipe-${i}` })),
    );
    expect(results.every((r) => r.retcode === 10009)).toBe(true);
    const deals = await client.historyDeals({ symbol: 'GBPUSD' });
    expect(new Set(deals.map((d) => d.comment)).size).toBe(50);
  });

  it('pending stop orders fill from the live feed without the client doing anything', async () => {
    await using client = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const t = (await client.request('symbol_info_tick', { symbol: 'EURUSD' }))!;
    const up = await client.orderSend({ action: 5, symbol: 'EURUSD', volume: 0.01, type: 4, price: Number((t.ask + 0.0001).toFixed(5)), comment: 'trig' });
    const down = await client.orderSend({ action: 5, symbol: 'EURUSD', volume: 0.01, type: 5, price: Number((t.bid - 0.0001).toFixed(5)), comment: 'trig' });
    expect([up.retcode, down.retcode]).toEqual([10008, 10008]);
    const deal = await waitFor(async () => (await client.historyDeals({ comment: 'trig' }))[0], { what: 'a stop order to trigger', timeoutMs: 20_000 });
    expect([up.order, down.order]).toContain(deal.order);
    expect(await client.positions({ ticket: deal.order })).toHaveLength(1);
  });

  it('a request on a connection already lost fails as not delivered', async () => {
    const client = await BrokerClient.connect({ host: broker.host, port: broker.port });
    await client.stop();
    const err = await client.request('ping', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerConnectionError);
    expect((err as BrokerConnectionError).delivered).toBe(false);
  });
});
