import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerClient, startBroker, startFeed, type BrokerHandle, type FeedHandle } from '../../../simulator/index.ts';
import { startRuntime, type RuntimeHandle } from '../../../runtime/main.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { getJson, postOrder, tempDir, testConfig } from './helpers.ts';

let feed: FeedHandle;
let broker: BrokerHandle;
let rt: RuntimeHandle;
const tmp = tempDir('orders');

beforeAll(async () => {
  feed = await startFeed({ seed: 3, port: 0, ticksPerSecond: 50 });
  broker = await startBroker({ seed: 3, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
  rt = await startRuntime({ config: testConfig({ dir: tmp.dir, broker: { host: broker.host, port: broker.port }, feed: feed.endpoint }), logger: silentLogger });
  await waitFor(() => rt.isReady() || undefined, { what: 'runtime ready', timeoutMs: 10_000 });
});

afterAll(async () => {
  await rt?.stop();
  await broker?.stop();
  await feed?.stop();
  tmp.cleanup();
});

const dealsFor = (comment: string) => broker.ledger.deals.filter((d) => d.comment === comment).length;

describe('orders through the control API against the simulated broker', () => {
  it('fills a market order: one deal in the ledger tagged with the client id and magic', async () => {
    const r = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 50 });
    expect(r.status).toBe(200);
    expect(r.json.order.state).toBe('filled');
    expect(r.json.order.clientId.length).toBeLessThanOrEqual(31);
    expect(dealsFor(r.json.order.clientId)).toBe(1);
    expect(broker.ledger.deals.find((d) => d.comment === r.json.order.clientId)!.magic).toBe(4242);
  });

  it('answers 400 naming the field for malformed orders, and nothing reaches the broker', async () => {
    const before = broker.ledger.requests.length;
    const a = await postOrder(rt.url, { symbol: 'EURUSD', side: 'up', volume: 0.01 });
    expect(a.status).toBe(400);
    expect(a.json.field).toBe('side');
    const b = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 'lots' });
    expect(b.status).toBe(400);
    expect(b.json.field).toBe('volume');
    const c = await postOrder(rt.url, '{not json');
    expect(c.status).toBe(400);
    const d = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.01, colour: 'red' });
    expect(d.status).toBe(400);
    expect(d.json.field).toBe('colour');
    expect(broker.ledger.requests.length).toBe(before);
  });

  it('refuses an invalid volume or price locally (422), notifies, and never sends it', async () => {
    const before = broker.ledger.requests.length;
    const seq = rt.events.since(0).at(-1)!.seq;
    const a = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.015 });
    expect(a.status).toBe(422);
    expect(a.json.order.state).toBe('rejected');
    expect(a.json.order.retcode).toBe(10014);
    const b = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.01, price: 1.123456789 });
    expect(b.status).toBe(422);
    expect(b.json.order.retcode).toBe(10015);
    expect(broker.ledger.requests.length).toBe(before);
    expect(rt.events.since(seq).filter((e) => e.type === 'order.invalid').length).toBe(2);
  });

  it('timeout after execution (10012): the order goes unknown, is reconciled from the broker and never resent', async () => {
    broker.setFaults({ timeoutAfterExecution: { rate: 1, mode: 'retcode' } });
    try {
      const r = await postOrder(rt.url, { symbol: 'EURUSD', side: 'sell', volume: 0.01, deviation: 50 });
      const id = r.json.order.clientId as string;
      await waitFor(() => rt.engine.orders.get(id)?.state === 'reconciled' || undefined, { what: 'reconciled', timeoutMs: 5000 });
      expect(dealsFor(id)).toBe(1);
      expect(rt.engine.orders.get(id)!.sends).toBe(1);
    } finally {
      broker.setFaults({});
    }
  });

  it('timeout after execution with the reply dropped and the connection closed: reconciled, one deal', async () => {
    broker.setFaults({ timeoutAfterExecution: { rate: 1, mode: 'drop' } });
    try {
      const r = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 50 });
      const id = r.json.order.clientId as string;
      await waitFor(() => rt.engine.orders.get(id)?.state === 'reconciled' || undefined, { what: 'reconciled', timeoutMs: 5000 });
      expect(dealsFor(id)).toBe(1);
    } finally {
      broker.setFaults({});
    }
  });

  it('timeout before execution: proven absent by two look-ups, then resent once: exactly one deal', async () => {
    broker.setFaults({ timeoutBeforeExecution: { rate: 1, mode: 'retcode' } });
    const r = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 50 });
    const id = r.json.order.clientId as string;
    await waitFor(() => rt.engine.orders.get(id)?.state === 'retrying' || undefined, { what: 'absent proven', timeoutMs: 5000 });
    broker.setFaults({});
    await waitFor(() => rt.engine.orders.get(id)?.state === 'filled' || undefined, { what: 'filled after resend', timeoutMs: 5000 });
    expect(dealsFor(id)).toBe(1);
  });

  it('transient refusals back off, and a broker coming back releases the order at once', async () => {
    const seq = rt.events.since(0).at(-1)!.seq;
    const restarting = broker.restart({ downMs: 1500 });
    await waitFor(() => broker.connections === 0 || undefined, { what: 'broker down', timeoutMs: 2000, intervalMs: 1 });
    const r = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 0.01, deviation: 50 });
    const id = r.json.order.clientId as string;
    // Refused (connection refused: never delivered) or, before the first quote, not sent at all.
    expect(['retrying', 'persisted']).toContain(r.json.order.state);
    await restarting;
    await waitFor(() => rt.engine.orders.get(id)?.state === 'filled' || undefined, { what: 'filled after broker back', timeoutMs: 10_000 }).catch((e: unknown) => {
      const trail = rt.events.since(seq).filter((ev) => ev.data?.clientId === id || ev.type.startsWith('broker.') || ev.type.startsWith('reconcile.'));
      throw new Error(`${(e as Error).message}: ${JSON.stringify(rt.engine.orders.get(id))} ${JSON.stringify(trail.slice(-30))}`);
    });
    expect(dealsFor(id)).toBe(1);
    const types = rt.events.since(seq).map((e) => e.type);
    expect(types).toContain('broker.down');
    expect(types).toContain('broker.up');
    // With timeScale 0.05 the backoff reaches 800 ms steps; the probe wakes the order instead of waiting them out.
    expect(types).toContain('order.retry_woken');
  });

  it('fatal broker codes (no money) are not retried and notify at once', async () => {
    const r = await postOrder(rt.url, { symbol: 'EURUSD', side: 'buy', volume: 100, deviation: 50 });
    // 100 lots may or may not exceed margin with balance 1e9: force it with a huge volume on a tiny balance is not possible here,
    // so use the broker's reject knob as the fatal path instead when the order filled.
    if (r.json.order.state === 'filled') {
      broker.setFaults({ rejectRate: 1 });
      try {
        const f = await postOrder(rt.url, { symbol: 'EURUSD', side: 'sell', volume: 0.01, deviation: 50 });
        expect(f.json.order.state).toBe('rejected');
        expect(f.json.order.sends).toBe(1);
      } finally {
        broker.setFaults({});
      }
    } else {
      expect(r.json.order.state).toBe('rejected');
      expect(r.json.order.sends).toBe(1);
    }
    expect(rt.events.since(0).some((e) => e.type === 'order.fatal')).toBe(true);
  });

  it('adopts a broker position carrying our magic that it never opened, and reports it as an orphan', async () => {
    await using c = await BrokerClient.connect({ host: broker.host, port: broker.port });
    const tick = await c.request('symbol_info_tick', { symbol: 'GBPUSD' });
    const r = await c.orderSend({ action: 1, symbol: 'GBPUSD', volume: 0.01, type: 0, price: tick!.ask, deviation: 1000, magic: 4242, comment: 'manual-1' });
    expect(r.retcode).toBe(10009);
    await waitFor(() => rt.events.since(0).find((e) => e.type === 'reconcile.orphan_adopted' && e.data?.symbol === 'GBPUSD') ?? undefined, {
      what: 'orphan adopted',
      timeoutMs: 5000,
    });
    const state = await getJson(`${rt.url}/state?orders=0`);
    expect(state.positions.some((p: { symbol: string; orphan: boolean }) => p.symbol === 'GBPUSD' && p.orphan)).toBe(true);
    expect(state.orders).toBeUndefined();
  });

  it('serves /health, /ready, /state and an NDJSON /events stream', async () => {
    expect((await getJson(`${rt.url}/health`)).ok).toBe(true);
    const ready = await fetch(`${rt.url}/ready`);
    expect(ready.status).toBe(200);
    const state = await getJson(`${rt.url}/state`);
    expect(state.components.broker).toBe('up');
    expect(state.orders.length).toBeGreaterThan(0);
    const ev = await fetch(`${rt.url}/events?follow=0`);
    const lines = (await ev.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((e) => e.type === 'runtime.ready')).toBe(true);
    expect(lines.every((e) => typeof e.ts === 'number' && typeof e.seq === 'number')).toBe(true);
  });
});
