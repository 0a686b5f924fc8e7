import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralLow, freeServicePorts } from '../../../lab/ports.ts';

describe('freeServicePorts (real sockets)', () => {
  it('hands out distinct, bindable ports below the ephemeral range, and not the same ones twice', async () => {
    const a = await freeServicePorts(7);
    const b = await freeServicePorts(4);
    const all = [...a, ...b];
    expect(new Set(all).size).toBe(11);
    for (const p of all) expect(p).toBeLessThan(ephemeralLow());
    for (const p of all) {
      const srv = createServer();
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(p, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
  it('skips a port that is taken', async () => {
    const [p] = await freeServicePorts(1);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(p! + 1, '127.0.0.1', () => r()));
    try {
      const next = await freeServicePorts(3);
      expect(next).not.toContain(p! + 1);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
