import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';

describe('ManualClock', () => {
  it('advance releases sleepers in deadline order, at their deadlines', async () => {
    const clock = new ManualClock(1000);
    const woke: [string, number][] = [];
    void clock.sleep(300).then(() => woke.push(['c', clock.now()]));
    void clock.sleep(100).then(() => woke.push(['a', clock.now()]));
    void clock.sleep(200).then(() => woke.push(['b', clock.now()]));
    await clock.advance(250);
    expect(woke).toEqual([
      ['a', 1100],
      ['b', 1200],
    ]);
    expect(clock.now()).toBe(1250);
    await clock.advance(50);
    expect(woke.at(-1)).toEqual(['c', 1300]);
  });

  it('ties fire in creation order', async () => {
    const clock = new ManualClock();
    const order: number[] = [];
    for (let i = 0; i < 5; i++) clock.setTimer(10, () => order.push(i));
    await clock.advance(10);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('a sleeper that sleeps again is released within the same advance', async () => {
    const clock = new ManualClock();
    const stamps: number[] = [];
    void (async () => {
      for (const d of [1000, 2000, 4000, 8000, 16000]) {
        await clock.sleep(d);
        stamps.push(clock.now());
      }
    })();
    await clock.advance(31_000);
    expect(stamps).toEqual([1000, 3000, 7000, 15000, 31000]);
  });

  it('cancelled timers and aborted sleeps do not fire', async () => {
    const clock = new ManualClock();
    let fired = false;
    clock.setTimer(5, () => (fired = true)).cancel();
    const ac = new AbortController();
    const p = clock.sleep(10, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await clock.advance(20);
    expect(fired).toBe(false);
    expect(clock.pending()).toBe(0);
  });
});

describe('waitFor', () => {
  it('polls until the check answers, and a fatal error ends the wait at once', async () => {
    const { waitFor } = await import('../../../core/wait.ts');
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? 'ok' : undefined), { what: 'x', timeoutMs: 1000, intervalMs: 1 })).resolves.toBe('ok');
    const t0 = performance.now();
    const dead = Object.assign(new Error('died'), { fatal: true });
    await expect(
      waitFor(
        () => {
          throw dead;
        },
        { what: 'y', timeoutMs: 5000, intervalMs: 1, isFatal: (e) => (e as { fatal?: boolean }).fatal === true },
      ),
    ).rejects.toBe(dead);
    expect(performance.now() - t0).toBeLessThan(1000);
    await expect(waitFor(() => undefined, { what: 'z', timeoutMs: 20, intervalMs: 1 })).rejects.toThrow(/z not ready after 20 ms/);
  });
});
