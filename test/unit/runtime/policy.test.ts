import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { Periodic, retry, RetriesExhaustedError, timeout, PolicyTimeoutError, Wake, waitOrWake, wrap } from '../../../runtime/policy.ts';

class Transient extends Error {}

describe('retry policy on a ManualClock', () => {
  it('runs the whole 1→2→4→8→16 s backoff (31 s) and gives up after 5 retries', async () => {
    const clock = new ManualClock(0);
    const calls: number[] = [];
    const policy = retry({ clock, delays: [1000, 2000, 4000, 8000, 16000], maxRetries: 5, handle: (e) => e instanceof Transient });
    const p = policy.execute(async () => {
      calls.push(clock.now());
      throw new Transient('busy');
    });
    const settled = p.catch((e: unknown) => e);
    await clock.runAll();
    const err = await settled;
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect(calls).toEqual([0, 1000, 3000, 7000, 15000, 31000]);
  });

  it('does not retry failures it does not handle', async () => {
    const clock = new ManualClock(0);
    let n = 0;
    const policy = retry({ clock, delays: [1000], maxRetries: 5, handle: (e) => e instanceof Transient });
    await expect(
      policy.execute(async () => {
        n++;
        throw new Error('fatal');
      }),
    ).rejects.toThrow('fatal');
    expect(n).toBe(1);
  });

  it('retries at once when the wake signal fires (broker back) instead of waiting out 16 s', async () => {
    const clock = new ManualClock(0);
    const wake = new Wake();
    const calls: number[] = [];
    let up = false;
    const policy = retry({ clock, delays: [1000, 2000, 4000, 8000, 16000], maxRetries: 5, handle: (e) => e instanceof Transient, wake });
    const p = policy.execute(async () => {
      calls.push(clock.now());
      if (!up) throw new Transient('down');
      return 'ok';
    });
    await clock.advance(15_100); // four retries done, waiting 16 s for the fifth
    expect(calls).toEqual([0, 1000, 3000, 7000, 15000]);
    up = true;
    wake.fire();
    await clock.advance(0);
    await expect(p).resolves.toBe('ok');
    expect(calls.at(-1)).toBe(15_100);
  });

  it('the failed_syncs round: every 30 s up to 5 times', async () => {
    const clock = new ManualClock(0);
    const calls: number[] = [];
    const policy = retry({ clock, delays: [30_000], maxRetries: 5, handle: () => true });
    const settled = policy
      .execute(async () => {
        calls.push(clock.now());
        throw new Transient('x');
      })
      .catch((e: unknown) => e);
    await clock.runAll();
    expect(await settled).toBeInstanceOf(RetriesExhaustedError);
    expect(calls).toEqual([0, 30_000, 60_000, 90_000, 120_000, 150_000]);
  });

  it('ClickHouse: retry every 5 s, 3 times', async () => {
    const clock = new ManualClock(0);
    const calls: number[] = [];
    const policy = retry({ clock, delays: [5000], maxRetries: 3, handle: () => true });
    const settled = policy
      .execute(async () => {
        calls.push(clock.now());
        throw new Transient('x');
      })
      .catch((e: unknown) => e);
    await clock.runAll();
    expect(await settled).toBeInstanceOf(RetriesExhaustedError);
    expect(calls).toEqual([0, 5000, 10_000, 15_000]);
  });
});

describe('timeout and wrap', () => {
  it('times out a hung call and aborts its signal', async () => {
    const clock = new ManualClock(0);
    let aborted = false;
    const p = timeout(clock, 2000).execute(
      (ctx) =>
        new Promise<string>((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(ctx.signal.reason);
          });
        }),
    );
    const settled = p.catch((e: unknown) => e);
    await clock.advance(2000);
    expect(await settled).toBeInstanceOf(PolicyTimeoutError);
    expect(aborted).toBe(true);
  });

  it('wrap(retry, timeout) retries calls that time out', async () => {
    const clock = new ManualClock(0);
    let n = 0;
    const policy = wrap(retry({ clock, delays: [100], maxRetries: 2, handle: (e) => e instanceof PolicyTimeoutError }), timeout(clock, 50));
    const p = policy.execute(async () => {
      n++;
      if (n < 3) await new Promise(() => {});
      return n;
    });
    await clock.runAll(10_000);
    await expect(p).resolves.toBe(3);
  });
});

describe('waitOrWake and Periodic', () => {
  it('waitOrWake reports how it ended', async () => {
    const clock = new ManualClock(0);
    const wake = new Wake();
    const a = waitOrWake(clock, 1000, wake);
    await clock.advance(1000);
    await expect(a).resolves.toBe('elapsed');
    const b = waitOrWake(clock, 1000, wake);
    wake.fire();
    await expect(b).resolves.toBe('woken');
    expect(clock.pending()).toBe(0);
  });

  it('Periodic runs every interval and at once when triggered', async () => {
    const clock = new ManualClock(0);
    const runs: number[] = [];
    const p = new Periodic(clock, 30_000, async () => {
      runs.push(clock.now());
    }).start();
    await clock.advance(60_000);
    expect(runs).toEqual([30_000, 60_000]);
    await clock.advance(1000);
    await p.trigger();
    expect(runs).toEqual([30_000, 60_000, 61_000]);
    await clock.advance(29_999);
    expect(runs.length).toBe(3);
    await clock.advance(1);
    expect(runs).toEqual([30_000, 60_000, 61_000, 91_000]);
    await p.stop();
  });
});
