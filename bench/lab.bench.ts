/**
 * Issue 2 targets: `lab up` until every service is ready (median ≤ 5 s), and a
 * killed Redis master, from the kill until a client's first successful write on
 * the new master (p50 ≤ 1.5 s, max ≤ 3 s over 10 trials).
 *
 *   npm run bench:lab [-- --trials 10 --ups 5 --down-after 250 --default-timers]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseConfig } from '../core/config/index.ts';
import { waitFor } from '../core/wait.ts';
import { LocalLab } from '../lab/index.ts';
import { fmt, summary } from './stats.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const ups = arg('ups', 5);
const trials = arg('trials', 10);
const downAfter = arg('down-after', parseConfig({}).redis.sentinelDownAfterMs);
// --default-timers: Sentinel's stock internal periods, as production Sentinels run.
const defaultTimers = process.argv.includes('--default-timers');
const config = parseConfig({ redis: { sentinelDownAfterMs: downAfter, ...(defaultTimers ? { sentinelTimers: {} } : {}) } });
const root = mkdtempSync(join(tmpdir(), 'ea-chaos-bench-lab-'));

async function timeLabUp(): Promise<number> {
  const dir = mkdtempSync(join(root, 'up-'));
  const t0 = performance.now();
  const lab = await LocalLab.start({ dir, config });
  const ms = performance.now() - t0;
  await lab.stop({ clean: true });
  return ms;
}

async function failoverTrial(): Promise<number> {
  const dir = mkdtempSync(join(root, 'fo-'));
  const lab = await LocalLab.start({ dir, config });
  const redis = new Redis({
    sentinels: lab.info.sentinels,
    name: lab.info.sentinelMasterName,
    retryStrategy: () => 10,
    sentinelRetryStrategy: () => 10,
    connectTimeout: 200,
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => {});
  try {
    await redis.set('bench:k', '0');
    const oldPort = lab.info.redis.master.port;
    const t0 = performance.now();
    await lab.kill('redis-master');
    await waitFor(
      async () => {
        // The old master is dead and a replica answers READONLY: a successful write is on the new master.
        await Promise.race([redis.set('bench:k', '1'), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 100))]);
        return true;
      },
      { what: 'write on new master', timeoutMs: 20_000, intervalMs: 2 },
    );
    const ms = performance.now() - t0;
    const port = Number(((await redis.call('CONFIG', 'GET', 'port')) as string[])[1]);
    if (port === oldPort) throw new Error('write landed on the old master port');
    return ms;
  } finally {
    redis.disconnect();
    await lab.stop({ clean: true });
  }
}

try {
  const upTimes: number[] = [];
  for (let i = 0; i < ups; i++) upTimes.push(await timeLabUp());
  const up = summary(upTimes);
  console.log(`lab up (${ups} runs): median ${fmt(up.p50)} ms, min ${fmt(up.min)} ms, max ${fmt(up.max)} ms   [target: median ≤ 5000 ms]`);

  const fo: number[] = [];
  for (let i = 0; i < trials; i++) {
    const ms = await failoverTrial();
    fo.push(ms);
    console.log(`  failover trial ${i + 1}: ${fmt(ms)} ms`);
  }
  const f = summary(fo);
  console.log(
    `redis master kill -> first write on new master (${trials} trials, down-after-milliseconds ${downAfter}, ${defaultTimers ? "Sentinel's default timers" : 'lab Sentinel timers'}): p50 ${fmt(f.p50)} ms, max ${fmt(f.max)} ms, min ${fmt(f.min)} ms   [target: p50 ≤ 1500 ms, max ≤ 3000 ms]`,
  );
  const ok = up.p50 <= 5000 && f.p50 <= 1500 && f.max <= 3000;
  console.log(ok ? 'lab targets: MET' : 'lab targets: MISSED');
} finally {
  rmSync(root, { recursive: true, force: true });
}
