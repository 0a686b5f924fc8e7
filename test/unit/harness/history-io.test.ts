import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { toTickRecords, finalStatesFromEvents, intentsFromEvents, parseHistory, readHistories, readSchedules, writeHistories } from '../../../harness/history/index.ts';
import { T0, history } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'ea-chaos-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('history files', () => {
  const h = history({ scenario: 'udp-blackhole', faults: [{ at: '1s', kind: 'udp.impair', target: 'tick-udp', duration: '1s', impair: { blackhole: true } }] });
  it('round-trip through writeHistories/readHistories and expose schedules for replay', () => {
    const run = join(dir, 'run');
    const files = writeHistories(run, [h, { ...h, repeat: 1 }]);
    expect(files.map((f) => f.slice(run.length + 1))).toEqual(['histories/001-udp-blackhole-r1.json', 'histories/002-udp-blackhole-r2.json']);
    expect(readHistories(run)).toEqual([h, { ...h, repeat: 1 }]);
    expect(readSchedules(run)[1]).toEqual({ scenario: 'udp-blackhole', repeat: 1, seed: 1, timeScale: 1, schedule: h.schedule });
    expect(readHistories(join(dir, 'none'))).toEqual([]);
  });
  it('a bad history names the field', () => {
    expect(() => parseHistory({ ...h, seed: -1 }, 'x.json')).toThrow(/seed/);
    const run = join(dir, 'bad');
    mkdirSync(join(run, 'histories'), { recursive: true });
    writeFileSync(join(run, 'histories', '001-x.json'), '{not json');
    expect(() => readHistories(run)).toThrow(ConfigError);
  });
  it('derives intents and final states from order.state events', () => {
    const ev = [
      { ts: T0, type: 'order.state', data: { clientId: 'a', from: null, to: 'intent' } },
      { ts: T0 + 1, type: 'order.state', data: { clientId: 'a', from: 'intent', to: 'persisted' }, instance: 'rt-1' },
      { ts: T0 + 2, type: 'order.state', data: { clientId: 'b', from: null, to: 'intent' } },
      { ts: T0 + 3, type: 'order.state', data: { clientId: 'b', from: 'intent', to: 'rejected' } },
      { ts: T0 + 4, type: 'order.state', data: { clientId: 'a', from: 'persisted', to: 'filled' }, instance: 'rt-1' },
    ];
    expect(intentsFromEvents(ev)).toEqual([{ clientId: 'a', acceptedAt: T0 + 1, instance: 'rt-1' }]);
    expect(finalStatesFromEvents(ev)).toEqual([{ clientId: 'a', state: 'filled', instance: 'rt-1' }, { clientId: 'b', state: 'rejected' }]);
  });
  it('converts feed and consumer ticks to tick records', () => {
    expect(toTickRecords([{ symbol: 'EURUSD', stream: 'EURUSD', epoch: 2, seq: 5, time_msc: 10 }, { symbol: 'GBPUSD', epoch: 1, seq: 1, time_msc: 11 }, { symbol: 'X', time_msc: 1 }])).toEqual({
      records: [
        { stream: 'EURUSD', epoch: 2, seq: 5, timeMs: 10 },
        { stream: 'GBPUSD', epoch: 1, seq: 1, timeMs: 11 },
      ],
      unidentified: 1,
    });
  });
});
