import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startBroker, startFeed } from '../../../simulator/index.ts';
import { startRuntime, type RuntimeHandle } from '../../../runtime/main.ts';
import { isTerminal } from '../../../runtime/order-state.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * Model-based test of the order lifecycle against the real simulated broker.
 * The model is simple: every order the runtime accepted must end with exactly
 * one deal at the broker (filled / reconciled) or none (rejected / failed),
 * whatever the faults. Faults: timeout after execution (10012 or dropped reply
 * + closed connection), timeout before execution, broker restarts, and a
 * runtime restart on the same DuckDB file in the middle of it all.
 */
type Action =
  | { kind: 'orders'; n: number; side: 'buy' | 'sell' }
  | { kind: 'faults'; after: number; before: number; mode: 'retcode' | 'drop' }
  | { kind: 'clear' }
  | { kind: 'restartBroker'; downMs: number }
  | { kind: 'restartRuntime' };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('orders' as const), n: fc.integer({ min: 1, max: 6 }), side: fc.constantFrom('buy' as const, 'sell' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('faults' as const),
      after: fc.double({ min: 0, max: 0.8, noNaN: true }),
      before: fc.double({ min: 0, max: 0.5, noNaN: true }),
      mode: fc.constantFrom('retcode' as const, 'drop' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restartBroker' as const), downMs: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restartRuntime' as const }) },
);

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

describe('order lifecycle model vs the simulated broker with timeout-after-execution faults', () => {
  it('zero duplicated deals and zero lost orders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(actionArb, { minLength: 3, maxLength: 12 }), async (seed, actions) => {
        const tmp = tempDir('model');
        cleanups.push(tmp.cleanup);
        const feed = await startFeed({ seed, port: 0, ticksPerSecond: 50 });
        const broker = await startBroker({ seed, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
        const cfg = testConfig({ dir: tmp.dir, broker: { host: broker.host, port: broker.port }, feed: feed.endpoint, extra: { reconcileIntervalMs: 2000 } });
        let rt: RuntimeHandle = await startRuntime({ config: cfg, logger: silentLogger });
        const accepted = new Set<string>();
        const inflight: Promise<unknown>[] = [];
        try {
          await waitFor(() => rt.isReady() || undefined, { what: 'ready', timeoutMs: 10_000 });
          for (const a of actions) {
            if (a.kind === 'orders') {
              for (let i = 0; i < a.n; i++) {
                const p = rt.engine.submit({ symbol: 'EURUSD', side: a.side, volume: 0.01, deviation: 100 }).then((o) => accepted.add(o.clientId));
                inflight.push(p.catch(() => {}));
              }
              await Promise.all(inflight.splice(0));
            } else if (a.kind === 'faults') {
              broker.setFaults({ timeoutAfterExecution: { rate: a.after, mode: a.mode }, timeoutBeforeExecution: { rate: a.before, mode: a.mode } });
            } else if (a.kind === 'clear') {
              broker.setFaults({});
            } else if (a.kind === 'restartBroker') {
              await broker.restart({ downMs: a.downMs });
            } else {
              await rt.stop();
              rt = await startRuntime({ config: cfg, logger: silentLogger });
              await waitFor(() => rt.isReady() || undefined, { what: 'ready after restart', timeoutMs: 10_000 });
            }
          }
          broker.setFaults({});
          await waitFor(() => [...rt.engine.orders.values()].every((o) => isTerminal(o.state)) || undefined, {
            what: 'every order terminal',
            timeoutMs: 20_000,
            intervalMs: 50,
          });
          const deals = broker.ledger.deals.filter((d) => d.magic === 4242);
          const perComment = new Map<string, number>();
          for (const d of deals) perComment.set(d.comment, (perComment.get(d.comment) ?? 0) + 1);
          // zero duplicated deals
          for (const [c, n] of perComment) expect(n, `deals for ${c}`).toBe(1);
          // zero lost orders: every deal belongs to an order the runtime knows, every accepted order is accounted for
          for (const c of perComment.keys()) expect(rt.engine.orders.has(c), `order ${c} known`).toBe(true);
          for (const id of accepted) expect(rt.engine.orders.has(id), `accepted ${id} still known`).toBe(true);
          for (const o of rt.engine.orders.values()) {
            const n = perComment.get(o.clientId) ?? 0;
            if (o.state === 'filled' || o.state === 'reconciled' || o.state === 'partially_filled') expect(n, `${o.clientId} ${o.state}`).toBe(1);
            else expect(n, `${o.clientId} ${o.state}`).toBe(0);
          }
        } finally {
          await rt.stop();
          await broker.stop();
          await feed.stop();
        }
      }),
      { numRuns: 6, endOnFailure: true },
    );
  }, 110_000);
});
