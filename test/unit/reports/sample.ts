import { ConfigSchema } from '../../../core/config/schema.ts';
import type { RunHistory } from '../../../harness/history/schema.ts';
import { buildRunReport } from '../../../reports/build.ts';
import type { RunReport } from '../../../reports/schema.ts';
import { T0, history } from '../harness/fixtures.ts';

const deal = (ticket: number, comment: string) => ({ ticket, comment, magic: 7, symbol: 'EURUSD', volume: 0.1, entry: 0 });
const ticks = (n: number, drop: Set<number> = new Set()) => {
  const emitted = Array.from({ length: n }, (_, i) => ({ stream: 'EURUSD', epoch: 1, seq: i + 1, timeMs: T0 + i * 50 }));
  return { emitted, received: emitted.filter((t) => !drop.has(t.seq)) };
};
const tickStores = (n: number) => {
  const keys = Array.from({ length: n }, (_, i) => ({ epoch: 1, seq: i + 1 }));
  return { instance: 'ea-0', history: keys, clickhouse: keys };
};
const goodOrders = (ids: string[]) => ({
  magic: [7],
  ledger: { deals: ids.map((c, i) => deal(i + 1, c)), positions: [{ ticket: 1, magic: 7, symbol: 'EURUSD', volume: 0.1 }] },
  orders: { intents: ids.map((clientId) => ({ clientId, acceptedAt: T0 })), final: ids.map((clientId) => ({ clientId, state: 'filled' })) },
  positions: [{ ticket: 1, status: 'open' }],
  stores: { takenAt: T0 + 30_000, syncDeadlineMs: 1500, redis: ids.map((c) => ({ clientId: c, state: 'filled' })), duckdb: ids.map((c) => ({ clientId: c, state: 'filled' })), clickhouse: ids.map((c) => ({ clientId: c, state: 'filled' })) },
  versions: { 'redis-server': '7.0.15', 'clickhouse-server': '24.8.4.13', node: 'v20.19.0' },
});

/** Histories covering a pass, a slow recovery, a lost-and-duplicated order and an undecidable check. */
export function sampleHistories(): RunHistory[] {
  const udp = { at: '1s', kind: 'udp.impair', target: 'tick-udp', duration: '2s', impair: { blackhole: true }, repeat: { count: 3, every: '4s' } };
  const out: RunHistory[] = [];
  for (let r = 0; r < 3; r++) {
    out.push(
      history({
        scenario: 'udp-blackhole',
        repeat: r,
        endedAt: 14_000,
        faults: [udp],
        events: [
          { ts: 1030 + r, type: 'tick.udp_down' },
          { ts: 1034 + r * 7, type: 'tick.switched', data: { from: 'udp', to: 'tcp' } },
          { ts: 5031, type: 'tick.udp_down' },
          { ts: 5040 + r * 20, type: 'tick.switched', data: { from: 'udp', to: 'tcp' } },
          { ts: 9030, type: 'tick.udp_down' },
          { ts: 9060 + r * 30, type: 'tick.switched', data: { from: 'udp', to: 'tcp' } },
        ],
        extra: { ...goodOrders([]), ticks: ticks(200), tickStores: tickStores(200), orders: { intents: [], final: [] } },
      }),
    );
  }
  out.push(
    history({
      scenario: 'redis-master-kill',
      endedAt: 14_000,
      faults: [{ at: '3s', kind: 'process.kill', target: 'redis-master', duration: '6s' }],
      events: [
        { ts: 3050, type: 'redis.down', instance: 'rt-1' },
        { ts: 4210, type: 'redis.master_changed', instance: 'rt-1' },
        { ts: 3400, type: 'session.reconnect_failed', instance: 'rt-1' },
        { ts: 5400, type: 'session.recovered', instance: 'rt-1' },
      ],
      extra: { ...goodOrders(['ea.k1.1', 'ea.k1.2']), ticks: ticks(100), tickStores: tickStores(100) },
    }),
  );
  out.push(
    history({
      scenario: 'broker-timeout-after-exec',
      endedAt: 10_000,
      faults: [{ at: '1s', kind: 'broker.knob', target: 'broker', duration: '3s', knobs: { timeoutAfterExecution: { rate: 0.5 } } }],
      events: [
        { ts: 1500, type: 'order.state', data: { clientId: 'ea.k1.3', from: 'submitted', to: 'unknown' } },
        { ts: 5600, type: 'order.state', data: { clientId: 'ea.k1.4', from: 'submitted', to: 'filled' } },
      ],
      extra: {
        ...goodOrders(['ea.k1.3', 'ea.k1.4']),
        ledger: { deals: [deal(1, 'ea.k1.3'), deal(2, 'ea.k1.3'), deal(3, 'a<&"b')], positions: [] },
        orders: { intents: [{ clientId: 'ea.k1.3', acceptedAt: T0 }, { clientId: 'ea.k1.4', acceptedAt: T0 }], final: [{ clientId: 'ea.k1.3', state: 'unknown' }, { clientId: 'ea.k1.4', state: 'submitted' }] },
        ticks: null,
      },
    }),
  );
  return out;
}

export function sampleReport(): RunReport {
  const config = ConfigSchema.parse({ seed: 42, timeScale: 0.1 });
  return buildRunReport({
    runId: '20261124-183000-s42',
    createdAt: '2026-11-24T18:30:00.000Z',
    histories: sampleHistories(),
    config,
    // Every goal is physical by default; the sample scales one so reports show a scaled goal.
    scaling: { clickhouse: 'scaled' },
    scenarios: { 'udp-blackhole': { description: 'UDP relay drops everything <script>', tags: ['@tick'] }, 'broker-timeout-after-exec': { checks: ['orders-lost', 'orders-duplicated', 'tick-gaps'] } },
    environment: { node: 'v20.19.0', platform: 'linux', cpus: 2 },
    historyFiles: ['histories/001-udp-blackhole-r1.json', 'histories/002-udp-blackhole-r2.json', 'histories/003-udp-blackhole-r3.json', 'histories/004-redis-master-kill-r1.json', 'histories/005-broker-timeout-after-exec-r1.json'],
  });
}
