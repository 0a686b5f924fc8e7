import { describe, expect, it } from 'vitest';
import { createBusyPoll, NO_BUSY_POLL } from '../../../faultproxy/busy-poll.ts';

const until = async (cond: () => boolean, maxTurns = 100_000) => {
  for (let i = 0; i < maxTurns && !cond(); i++) await new Promise((r) => setImmediate(r));
  return cond();
};

describe('busy-poll window', () => {
  it('is off for a zero or invalid window', () => {
    expect(createBusyPoll(0)).toBe(NO_BUSY_POLL);
    expect(createBusyPoll(Number.NaN)).toBe(NO_BUSY_POLL);
    NO_BUSY_POLL.kick();
    expect(NO_BUSY_POLL.active()).toBe(false);
  });

  it('keeps the loop polling after a kick, then lets it sleep once the window has passed', async () => {
    const bp = createBusyPoll(2_000);
    expect(bp.active()).toBe(false);
    const t0 = process.hrtime.bigint();
    bp.kick();
    expect(bp.active()).toBe(true);
    expect(await until(() => !bp.active())).toBe(true);
    // The window is a lower bound: it cannot end before 2 ms have passed.
    expect(process.hrtime.bigint() - t0).toBeGreaterThanOrEqual(1_900_000n);
  });

  it('a kick during the window extends it without starting a second spinner', async () => {
    const bp = createBusyPoll(5_000);
    bp.kick();
    await new Promise((r) => setImmediate(r));
    const t1 = process.hrtime.bigint();
    bp.kick();
    expect(await until(() => !bp.active())).toBe(true);
    expect(process.hrtime.bigint() - t1).toBeGreaterThanOrEqual(4_900_000n);
  });

  it('stop ends the window at once and later kicks do nothing', () => {
    const bp = createBusyPoll(1_000_000);
    bp.kick();
    bp.stop();
    expect(bp.active()).toBe(false);
    bp.kick();
    expect(bp.active()).toBe(false);
  });
});
