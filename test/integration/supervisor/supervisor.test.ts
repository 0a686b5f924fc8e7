import { mkdtempSync, rmSync, copyFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { parseConfig } from '../../../core/config/index.ts';
import { EventBus, type Alert, type Notifier } from '../../../core/events.ts';
import { waitFor } from '../../../core/wait.ts';
import { ensureBuilt } from '../../../runtime/supervisor/build.ts';
import { startSupervisor, type Supervisor } from '../../../runtime/supervisor/supervisor.ts';

class RecordingNotifier implements Notifier {
  readonly alerts: Alert[] = [];
  async notify(a: Alert): Promise<void> {
    this.alerts.push(a);
  }
}

let dir: string;
let childJs: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ea-sup-'));
  const src = join(dir, 'child.ts');
  copyFileSync(resolve('test/fixtures/ready-child.ts'), src);
  childJs = (await ensureBuilt({ entry: src, outfile: join(dir, 'dist', 'child.js') })).outfile;
});
// A test that times out never reaches its finally: its supervisor is stopped here.
const live: Supervisor[] = [];
afterAll(async () => {
  for (const s of live.splice(0)) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

describe('ensureBuilt', () => {
  it('bundles once and rebuilds only when a source changed', async () => {
    const src = join(dir, 'child.ts');
    const out = join(dir, 'dist', 'child.js');
    expect((await ensureBuilt({ entry: src, outfile: out })).rebuilt).toBe(false);
    const t = new Date(Date.now() + 5000);
    utimesSync(src, t, t);
    expect((await ensureBuilt({ entry: src, outfile: out })).rebuilt).toBe(true);
    expect((await ensureBuilt({ entry: src, outfile: out })).rebuilt).toBe(false);
  });
});

describe('supervisor with real child processes', () => {
  it('restarts a SIGKILLed child each time, and stops it with an alert on the 4th kill within the cooldown', async () => {
    // Restarts 100 ms apart and a 20 s window (wide enough for 4 kills on a loaded machine); 3 restarts as in the seed.
    const config = parseConfig({ process: { restartIntervalMs: 100, cooldownMs: 20_000, maxRestartAttempts: 3 } });
    const events = new EventBus(systemClock);
    const notifier = new RecordingNotifier();
    const sup: Supervisor = startSupervisor({
      clock: systemClock,
      config,
      events,
      notifier,
      instances: 2,
      child: (_i, port) => ({ command: process.execPath, args: [childJs], readyUrl: `http://127.0.0.1:${port}/ready` }),
    });
    live.push(sup);
    try {
      const { healthUrl } = await sup.ready;
      let s0 = await sup.waitReady(0);
      await sup.waitReady(1);
      expect((await getJson(healthUrl)).status).toBe(200);
      const killToReady: number[] = [];
      for (let k = 1; k <= 3; k++) {
        const pid = s0.pid!;
        const t0 = performance.now();
        process.kill(pid, 'SIGKILL');
        s0 = await sup.waitReady(0, { notPid: pid });
        killToReady.push(performance.now() - t0);
        expect(s0.restarts).toBe(k);
      }
      console.log(`SIGKILL -> ready (ms): ${killToReady.map((x) => x.toFixed(1)).join(', ')}`);
      const h = await getJson(healthUrl);
      expect(h.body.instances[0]).toMatchObject({ state: 'ready', restarts: 3, restartsInWindow: 3 });
      expect(h.body.instances[1]).toMatchObject({ state: 'ready', restarts: 0 });

      process.kill(s0.pid!, 'SIGKILL');
      await waitFor(() => notifier.alerts.find((a) => a.code === 'process.gave_up'), { what: 'gave_up alert', timeoutMs: 5000 });
      expect(sup.status()[0]!.state).toBe('gave_up');
      expect(sup.status()[1]!.state).toBe('ready');
      const after = await getJson(healthUrl);
      expect(after.status).toBe(503);
      expect(after.body.instances[0]).toMatchObject({ state: 'gave_up', restarts: 3 });
      expect(events.since().filter((e) => e.type === 'process.gave_up')).toHaveLength(1);
      expect(notifier.alerts[0]!.severity).toBe('critical');
    } finally {
      await sup.stop();
    }
    for (const s of sup.status()) expect(s.pid === undefined || s.state === 'stopped').toBe(true);
  });

  it('spaces consecutive restarts by restartIntervalMs and forgets restarts older than the cooldown', async () => {
    // A 1.5 s interval (longer than a restart takes even on a loaded machine) and a 3 s cooldown.
    const config = parseConfig({ process: { restartIntervalMs: 1500, cooldownMs: 3000, maxRestartAttempts: 3 } });
    const events = new EventBus(systemClock);
    const sup = startSupervisor({
      clock: systemClock,
      config,
      events,
      notifier: new RecordingNotifier(),
      instances: 1,
      child: (_i, port) => ({ command: process.execPath, args: [childJs], readyUrl: `http://127.0.0.1:${port}/ready` }),
    });
    live.push(sup);
    try {
      let s = await sup.waitReady(0);
      process.kill(s.pid!, 'SIGKILL');
      s = await sup.waitReady(0, { notPid: s.pid });
      const t0 = performance.now();
      process.kill(s.pid!, 'SIGKILL');
      s = await sup.waitReady(0, { notPid: s.pid });
      const restarting = events.since().filter((e) => e.type === 'process.restarting');
      expect(restarting[0]!.data?.inMs).toBe(0);
      const waited = Number(restarting[1]!.data?.inMs);
      expect(waited).toBeGreaterThan(0);
      expect(waited).toBeLessThanOrEqual(1500);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(waited);
      // After the cooldown the window is empty again.
      await waitFor(() => (sup.status()[0]!.restartsInWindow === 0 ? true : undefined), { what: 'window expiry', timeoutMs: 6000 });
    } finally {
      await sup.stop();
    }
  });
});
