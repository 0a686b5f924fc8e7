import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { EventBus, type Alert, type Notifier } from '../../../core/events.ts';
import { waitFor } from '../../../core/wait.ts';
import { LocalLab } from '../../../lab/index.ts';
import { ensureBuilt } from '../../../runtime/supervisor/build.ts';
import { runtimeChild } from '../../../runtime/supervisor/runtime-child.ts';
import { startSupervisor } from '../../../runtime/supervisor/supervisor.ts';
import { startBroker, startFeed, type BrokerHandle, type FeedHandle } from '../../../simulator/index.ts';
import { tempLabDir } from '../../helpers/labs.ts';

class RecordingNotifier implements Notifier {
  readonly alerts: Alert[] = [];
  async notify(a: Alert): Promise<void> {
    this.alerts.push(a);
  }
}

let dir: string;
let js: string;
let feed: FeedHandle;
let broker: BrokerHandle;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ea-sup-rt-'));
  js = (await ensureBuilt({ entry: resolve('runtime/main.ts'), outfile: resolve('dist/runtime/main.js') })).outfile;
  feed = await startFeed({ seed: 1, ticksPerSecond: 20 });
  broker = await startBroker({ seed: 9, port: 0, adminPort: 0, feed, marginMode: 'netting', balance: 1e9 });
});
// A test that times out never reaches its finally: whatever it started is stopped here.
const live: { stop(): Promise<unknown> | unknown }[] = [];
afterAll(async () => {
  for (const h of live.splice(0).reverse()) await h.stop();
  await broker?.stop();
  await feed?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, extra: Record<string, unknown> = {}, runtimeExtra: Record<string, unknown> = {}): string {
  const file = join(dir, `${name}.json`);
  const doc = {
    seed: 7,
    timeScale: 0.1,
    ...extra,
    runtime: { instanceId: name, magic: 4242, dataDir: join(dir, `${name}-data`), broker: { host: broker.host, port: broker.port }, ...runtimeExtra },
  };
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('supervising the real runtime (compiled dist/runtime/main.js)', () => {
  it('restarts a SIGKILLed runtime and it answers /ready again', async () => {
    const rc = runtimeChild({ configFile: writeConfig('sk'), js, instances: 1, dir: join(dir, 'inst-sk') });
    const sup = startSupervisor({ clock: systemClock, config: rc.base, events: new EventBus(systemClock), notifier: new RecordingNotifier(), instances: 1, child: rc.child, readyTimeoutMs: 30_000, stdio: 'ignore' });
    live.push(sup);
    try {
      let s = await sup.waitReady(0);
      const pid = s.pid!;
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      s = await sup.waitReady(0, { notPid: pid });
      console.log(`real runtime SIGKILL -> /ready: ${(performance.now() - t0).toFixed(0)} ms`);
      expect(s.restarts).toBe(1);
      const state = (await (await fetch(`http://127.0.0.1:${s.port}/state`)).json()) as { instance: string };
      expect(state.instance).toBe('sk');
    } finally {
      await sup.stop();
    }
  });

  // One retry: Sentinel sometimes elects a leader and then does not promote the replica within the
  // window (measured-pitfalls: 2 of 18 trials); that is the lab's Redis, not what this test is about.
  it('3 supervised instances share Redis and all follow a Sentinel failover to the new master', { retry: 1, timeout: 200_000 }, async () => {
    const lab = await LocalLab.start({ dir: tempLabDir('sup-fo'), timeoutMs: 60_000 });
    live.push({ stop: () => lab.stop({ clean: true }) });
    const rc = runtimeChild({
      configFile: writeConfig(
        'fo',
        { redis: { masterName: lab.info.sentinelMasterName } },
        { redis: { sentinels: lab.info.sentinels }, feed: { host: feed.host, port: feed.port }, strategy: { enabled: true, symbols: ['EURUSD'], ordersPerSecond: 5 } },
      ),
      js,
      instances: 3,
      dir: join(dir, 'inst-fo'),
    });
    const sup = startSupervisor({ clock: systemClock, config: rc.base, events: new EventBus(systemClock), notifier: new RecordingNotifier(), instances: 3, child: rc.child, instanceId: rc.instanceId, readyTimeoutMs: 30_000, stdio: 'ignore' });
    live.push(sup);
    const probe = () => {
      const c = new Redis({ sentinels: lab.info.sentinels, name: lab.info.sentinelMasterName, maxRetriesPerRequest: 1, lazyConnect: false });
      c.on('error', () => undefined); // the test's own probe sees the killed master too
      return c;
    };
    let r = probe();
    try {
      await Promise.all([0, 1, 2].map((i) => sup.waitReady(i)));
      const ids = ['fo-0', 'fo-1', 'fo-2'];
      expect(sup.status().map((s) => s.id)).toEqual(ids);
      const heartbeats = async () => {
        const h = await r.hgetall('ea:ris');
        return Object.fromEntries(ids.map((id) => [id, h[id] ? (JSON.parse(h[id]!) as { heartbeatAt: number }).heartbeatAt : 0]));
      };
      await waitFor(async () => (Object.values(await heartbeats()).every((t) => t > 0) ? true : undefined), { what: 'RIS entries of 3 instances', timeoutMs: 15_000 });
      const before = await lab.status();
      const killedAt = Date.now();
      await lab.kill('redis-master');
      await waitFor(
        async () => {
          const now = await lab.status().catch(() => undefined);
          return now && now.redis.master.port !== before.redis.master.port ? true : undefined;
        },
        { what: 'Sentinel promoted the replica', timeoutMs: 30_000, intervalMs: 100 },
      );
      r.disconnect();
      r = probe();
      // Every instance writes its RIS heartbeat to the new master after the failover.
      const after = await waitFor(
        async () => {
          const hb = await heartbeats().catch(() => undefined);
          return hb && Object.values(hb).every((t) => t > killedAt) ? hb : undefined;
        },
        { what: 'all 3 heartbeats on the new master', timeoutMs: 30_000, intervalMs: 100 },
      );
      console.log(`heartbeats on the new master, ms after the master kill: ${ids.map((id) => after[id]! - killedAt).join(', ')}`);
      for (const id of ids) expect(await r.exists(`ea:ris:${id}:alive`)).toBe(1);
      expect(sup.status().every((s) => s.state === 'ready' && s.restarts === 0)).toBe(true);
      // Each instance placed orders, and holds only its own: none adopted another's (tags fo0, fo1, fo2).
      for (const s of sup.status()) {
        const tag = `fo${s.index}.`;
        const st = await waitFor(
          async () => {
            const j = (await (await fetch(`http://127.0.0.1:${s.port}/state`)).json()) as { orders: { clientId: string }[] };
            return j.orders.length > 0 ? j : undefined;
          },
          { what: `orders of instance ${s.index}`, timeoutMs: 15_000 },
        );
        expect(st.orders.filter((o) => !o.clientId.startsWith(tag)).map((o) => o.clientId)).toEqual([]);
      }
    } finally {
      r.disconnect();
      await sup.stop();
      await lab.stop({ clean: true });
    }
  });
});

describe('warm standby', () => {
  it('restarts the real runtime from a preloaded standby process', async () => {
    const warmJs = (await ensureBuilt({ entry: resolve('runtime/supervisor/warm-entry.ts'), outfile: resolve('dist/runtime/supervisor/warm-entry.js') })).outfile;
    const rc = runtimeChild({ configFile: writeConfig('wm'), js, warmJs, instances: 1, dir: join(dir, 'inst-wm') });
    const events = new EventBus(systemClock);
    const sup = startSupervisor({ clock: systemClock, config: rc.base, events, notifier: new RecordingNotifier(), instances: 1, child: rc.child, readyTimeoutMs: 30_000, stdio: 'ignore' });
    live.push(sup);
    try {
      let s = await sup.waitReady(0);
      // The standby is started once the instance is ready; wait until it has loaded the runtime.
      const started = () => events.since().filter((e) => e.type === 'process.started');
      for (let k = 1; k <= 2; k++) {
        await waitFor(() => (sup.status()[0]!.standby === 'warm' ? true : undefined), { what: 'standby warm', timeoutMs: 20_000 });
        const pid = s.pid!;
        const t0 = performance.now();
        process.kill(pid, 'SIGKILL');
        s = await sup.waitReady(0, { notPid: pid });
        console.log(`warm standby: SIGKILL -> /ready ${(performance.now() - t0).toFixed(0)} ms`);
        expect(s.restarts).toBe(k);
        expect(started()[k]!.data?.warm).toBe(true);
      }
      const state = (await (await fetch(`http://127.0.0.1:${s.port}/state`)).json()) as { instance: string };
      expect(state.instance).toBe('wm');
    } finally {
      await sup.stop();
    }
    await waitFor(() => (sup.status().every((x) => x.pid === undefined || x.state === 'stopped') ? true : undefined), { what: 'stopped', timeoutMs: 5000 });
  });
});
