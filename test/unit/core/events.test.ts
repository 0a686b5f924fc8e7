import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { EventBus } from '../../../core/events.ts';

describe('EventBus', () => {
  it('stamps events with the clock and a dense sequence', async () => {
    const clock = new ManualClock(5000);
    const bus = new EventBus(clock, { instance: 'ea-1' });
    bus.emit('redis', 'redis.down');
    await clock.advance(10);
    const e = bus.emit('redis', 'redis.up', { after: 3 });
    expect(e).toMatchObject({ seq: 2, ts: 5010, component: 'redis', type: 'redis.up', instance: 'ea-1', data: { after: 3 } });
    expect(bus.since(1).map((x) => x.type)).toEqual(['redis.up']);
  });

  it('keeps at least the last `capacity` events and since() stays exact after trimming', () => {
    const bus = new EventBus(new ManualClock(), { capacity: 10 });
    for (let i = 0; i < 37; i++) bus.emit('trade', 'order.state', { i });
    const all = bus.since(0);
    expect(all.length).toBeGreaterThanOrEqual(10);
    expect(all.at(-1)!.seq).toBe(37);
    expect(bus.since(30).map((e) => e.seq)).toEqual([31, 32, 33, 34, 35, 36, 37]);
    expect(bus.since(37)).toEqual([]);
  });

  it('a throwing listener does not break the emitter or other listeners', () => {
    const bus = new EventBus(new ManualClock());
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((e) => seen.push(e.type));
    bus.emit('tick', 'tick.switched');
    expect(seen).toEqual(['tick.switched']);
  });
});
