import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';
import { startBroker, type BrokerHandle } from '../../../simulator/broker/server.ts';
import { startFeed, type FeedHandle } from '../../../simulator/feed/server.ts';
import { BrokerClient, BrokerConnectionError, BrokerTimeoutError } from '../../../simulator/protocol/broker-client.ts';
import type { MqlTradeRequest, TradeDeal } from '../../../simulator/protocol/types.ts';

let feed: FeedHandle;
let broker: BrokerHandle;

beforeAll(async () => {
  feed = await startFeed({ seed: 33, port: 0, ticksPerSecond: 50 });
  broker = await startBroker({ seed: 33, port: 0, feed });
});

afterAll(async () => {
  await broker?.stop();
  await feed?.stop();
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${broker.admin}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

const order = (comment: string, extra: Partial<MqlTradeRequest> = {}): MqlTradeRequest => ({
  action: 1,
  symbol: 'EURUSD',
  volume: 0.1,
  type: 0,
  price: feed.quote('EURUSD')!.ask,
  deviation: 100_000,
  comment,
  magic: 5,
  ...extra,
});

const dealsFor = async (comment: string): Promise<TradeDeal[]> => (await admin('GET', `/ledger/deals?comment=${encodeURIComponent(comment)}`)).json;

beforeEach(async () => {
  await admin('POST', '/faults/reset');
});

describe('fault knobs through the admin API', () => {
  it('timeout after execution (retcode): client sees 10012, the deal exists in the ledger', async () => {
    expect((await admin('PATCH', '/faults', { timeoutAfterExecution: { rate: 1, mode: 'retcode' } })).status).toBe(200);
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const r = await c.orderSend(order('tae-1'));
    expect(r.retcode).toBe(10012);
    expect(await dealsFor('tae-1')).toHaveLength(1);
    const summary = (await admin('GET', '/ledger/summary')).json;
    expect(summary.deals_by_comment['tae-1']).toBe(1);
    const req = ((await admin('GET', '/ledger/requests')).json as any[]).find((x) => x.request.comment === 'tae-1');
    expect(req).toMatchObject({ retcode: 10009, answered_retcode: 10012, outcome: 'timeout_retcode' });
  });

  it('timeout after execution (drop): the connection closes with the outcome unknown, the deal exists', async () => {
    await admin('PATCH', '/faults', { timeoutAfterExecution: { rate: 1, mode: 'drop' } });
    const c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const err = await c.orderSend(order('tae-2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerConnectionError);
    expect((err as BrokerConnectionError).delivered).toBe(true);
    await c.stop();
    expect(await dealsFor('tae-2')).toHaveLength(1);
  });

  it('latency longer than the client timeout: client times out, the deal still lands, the connection stays usable', async () => {
    await admin('PATCH', '/faults', { latency: { fixedMs: 300 } });
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const err = await c.orderSend(order('lat-1'), { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerTimeoutError);
    expect(await dealsFor('lat-1')).toHaveLength(0);
    await waitFor(async () => ((await dealsFor('lat-1')).length === 1 ? true : undefined), { what: 'delayed deal', timeoutMs: 5000 });
    expect(await c.request('ping', {})).toHaveProperty('time_msc');
  });

  it('latency delays the answer by at least the fixed part', async () => {
    await admin('PATCH', '/faults', { latency: { fixedMs: 80, jitterMs: 20 } });
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const t0 = performance.now();
    expect((await c.orderSend(order('lat-2'))).retcode).toBe(10009);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(79);
  });

  it('timeout before execution: 10012 (or dropped) and nothing executes', async () => {
    await admin('PATCH', '/faults', { timeoutBeforeExecution: { rate: 1 } });
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    expect((await c.orderSend(order('tbe-1'))).retcode).toBe(10012);
    await admin('PATCH', '/faults', { timeoutBeforeExecution: { mode: 'drop' } });
    const err = await c.orderSend(order('tbe-2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerConnectionError);
    expect(await dealsFor('tbe-1')).toHaveLength(0);
    expect(await dealsFor('tbe-2')).toHaveLength(0);
  });

  it('refused connections, then accepted again once healed', async () => {
    await admin('PATCH', '/faults', { refuseConnections: true });
    const err = await (async () => {
      const c = await BrokerClient.connect({ host: broker.host, port: broker.port });
      try {
        return await c.request('ping', {}, { timeoutMs: 2000 });
      } finally {
        await c.stop();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerConnectionError);
    await admin('POST', '/faults/reset');
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    expect(await c.request('ping', {})).toHaveProperty('time_msc');
  });

  it('reject, requote, off-quotes, connection rates; market closed window; partial fills; rate limit', async () => {
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    for (const [knob, code] of [
      ['rejectRate', 10006],
      ['requoteRate', 10004],
      ['offQuotesRate', 10021],
      ['connectionRate', 10031],
    ] as const) {
      await admin('PUT', '/faults', { [knob]: 1 });
      const r = await c.orderSend(order(`k-${knob}`));
      expect(r.retcode).toBe(code);
    }
    const now = Date.now();
    await admin('PUT', '/faults', { marketClosed: [{ fromMsc: now - 1000, toMsc: now + 60_000 }] });
    expect((await c.orderSend(order('closed'))).retcode).toBe(10018);
    await admin('POST', '/market/open');
    expect((await c.orderSend(order('reopened'))).retcode).toBe(10009);
    expect((await admin('POST', '/market/close?forMs=60000')).json.marketClosed).toHaveLength(1);
    expect((await c.orderSend(order('closed-2'))).retcode).toBe(10018);
    expect((await admin('POST', '/market/close')).status).toBe(400);
    await admin('PUT', '/faults', { partialFillRate: 1, partialFillRatio: [0.5, 0.5] });
    expect(await c.orderSend(order('partial', { volume: 1, type_filling: 1 }))).toMatchObject({ retcode: 10010, volume: 0.5 });
    await admin('PUT', '/faults', { maxRequestsPerSecond: 3 });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await c.orderSend(order(`rl-${i}`))).retcode);
    expect(codes.filter((x) => x === 10024).length).toBeGreaterThanOrEqual(2);
    expect(await dealsFor('k-rejectRate')).toHaveLength(0);
  });

  it('bad fault bodies get 400 naming the field, and change nothing', async () => {
    const before = (await admin('GET', '/faults')).json;
    const bad = await admin('PATCH', '/faults', { latency: { fixedMs: 'slow' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('latency.fixedMs');
    expect((await admin('GET', '/faults')).json).toEqual(before);
    expect((await admin('GET', '/nope')).status).toBe(404);
  });

  it('a broker restart drops connections but keeps tickets, deals and positions', async () => {
    const c1 = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const first = await c1.orderSend(order('rs-1'));
    expect(first.retcode).toBe(10009);
    expect((await admin('POST', '/restart?downMs=100')).json).toMatchObject({ restarted: true });
    await waitFor(() => (c1.connected ? undefined : true), { what: 'old connection dropped', timeoutMs: 5000 });
    await c1.stop();
    const c2 = await waitFor(() => BrokerClient.connect({ host: broker.host, port: broker.port }), { what: 'broker after restart', timeoutMs: 5000 });
    try {
      expect(await c2.historyDeals({ comment: 'rs-1' })).toHaveLength(1);
      expect((await c2.positions({ ticket: first.order })).length).toBe(1);
      const second = await c2.orderSend(order('rs-2'));
      expect(second.deal).toBeGreaterThan(first.deal);
      expect(second.request_id).toBeGreaterThan(first.request_id);
    } finally {
      await c2.stop();
    }
  });

  it('GET /ledger returns requests, orders, deals and positions', async () => {
    const l = (await admin('GET', '/ledger')).json;
    expect(Object.keys(l).sort()).toEqual(['deals', 'orders', 'positions', 'requests']);
    expect(l.deals.length).toBeGreaterThan(0);
    expect((await admin('GET', '/ledger/positions?magic=5')).json.length).toBeGreaterThan(0);
    expect((await admin('GET', '/ledger/deals?magic=abc')).status).toBe(400);
  });
});

describe('duplicates over the wire', () => {
  it('dedupe mode rejects the resend; default mode makes a second deal', async () => {
    await using dd = await startBroker({ seed: 1, port: 0, feed, dedupe: true });
    await using c = await BrokerClient.connect({ host: dd.host, port: dd.port });
    expect((await c.orderSend(order('dup-1'))).retcode).toBe(10009);
    expect((await c.orderSend(order('dup-1'))).retcode).toBe(10006);
    expect(await c.historyDeals({ comment: 'dup-1' })).toHaveLength(1);
    await using c2 = await BrokerClient.connect({ host: broker.host, port: broker.port });
    await c2.orderSend(order('dup-2'));
    await c2.orderSend(order('dup-2'));
    expect(await c2.historyDeals({ comment: 'dup-2' })).toHaveLength(2);
  });
});
