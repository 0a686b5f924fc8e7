import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RestartPolicy } from '../../../runtime/supervisor/policy.ts';

const seed = { restartIntervalMs: 1000, maxRestartAttempts: 3, cooldownMs: 30_000 };

describe('RestartPolicy (seed §3.6)', () => {
  it('restarts at once, then 1 s apart, and gives up on the 4th exit inside 30 s', () => {
    const p = new RestartPolicy(seed);
    let now = 0;
    const d1 = p.onExit(now);
    expect(d1).toEqual({ action: 'restart', delayMs: 0, restartsInWindow: 0 });
    p.recordRestart(now);
    now += 200;
    expect(p.onExit(now)).toEqual({ action: 'restart', delayMs: 800, restartsInWindow: 1 });
    now += 800;
    p.recordRestart(now);
    now += 5000;
    expect(p.onExit(now)).toMatchObject({ action: 'restart', delayMs: 0 });
    p.recordRestart(now);
    now += 5000;
    expect(p.onExit(now)).toEqual({ action: 'give_up', restartsInWindow: 3 });
  });

  it('restarts spread wider than the cooldown never give up', () => {
    const p = new RestartPolicy(seed);
    for (let i = 0; i < 20; i++) {
      const now = i * 10_001;
      const d = p.onExit(now);
      expect(d.action).toBe('restart');
      p.recordRestart(now);
    }
  });

  it('gives up exactly when maxRestartAttempts restarts fall in the window (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 5 }), (gaps, max) => {
        const p = new RestartPolicy({ ...seed, maxRestartAttempts: max });
        const restarts: number[] = [];
        let now = 0;
        for (const g of gaps) {
          now += g;
          const inWindow = restarts.filter((t) => now - t < seed.cooldownMs).length;
          const d = p.onExit(now);
          if (inWindow >= max) {
            expect(d.action).toBe('give_up');
            return;
          }
          expect(d.action).toBe('restart');
          if (d.action === 'restart') {
            const last = restarts[restarts.length - 1];
            expect(d.delayMs).toBe(last === undefined || now - last >= seed.cooldownMs ? 0 : Math.max(0, last + seed.restartIntervalMs - now));
            now += d.delayMs;
            p.recordRestart(now);
            restarts.push(now);
          }
        }
      }),
    );
  });
});
