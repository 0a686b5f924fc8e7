import { describe, expect, it } from 'vitest';
import { relayImpairments } from '../../../harness/nemesis.ts';

describe('relayImpairments', () => {
  it('turns scenario impairments into the relay shape, blackhole becoming down', () => {
    expect(relayImpairments({ blackhole: true })).toEqual({ both: { down: true } });
    expect(relayImpairments({ loss: 0.2, latency: 5, jitter: 2 })).toEqual({ both: { loss: 0.2, latency: 5, jitter: 2 } });
  });
  it('passes a patch already in the relay shape through', () => {
    expect(relayImpairments({ blackhole: true, both: { down: true } })).toEqual({ both: { down: true } });
    expect(relayImpairments({ upstream: { loss: 1 } })).toEqual({ upstream: { loss: 1 } });
  });
});
