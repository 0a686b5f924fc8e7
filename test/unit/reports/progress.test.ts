import { describe, expect, it } from 'vitest';
import { renderProgress } from '../../../reports/index.ts';

describe('renderProgress', () => {
  const p = { index: 3, total: 12, scenario: 'redis-master-kill', repeat: 0, repeats: 3, elapsedMs: 5900, lengthMs: 14_000, faultsInjected: 1, faultsTotal: 1, done: { pass: 2, fail: 0, unknown: 0 }, last: 'f1.1 process.kill redis-master injected' };
  it('shows position, repeat, percentage, faults, verdicts and the last event', () => {
    expect(renderProgress(p, 500)).toBe('[3/12] redis-master-kill #1/3   42% 5.90 s/14.00 s  faults 1/1  pass 2 fail 0 unknown 0  f1.1 process.kill redis-master injected');
  });
  it('fits the width and omits the repeat when there is one', () => {
    const line = renderProgress({ ...p, repeats: 1, elapsedMs: 20_000 }, 40);
    expect(line).toHaveLength(40);
    expect(line.startsWith('[3/12] redis-master-kill  100%')).toBe(true);
  });
});
