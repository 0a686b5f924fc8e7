import { existsSync, openSync, closeSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../core/wait.ts';
import { LocalLab } from '../../../lab/index.ts';
import { AOF_DIR, AOF_MANIFEST } from '../../../lab/redis.ts';
import { redisCommand } from '../../../lab/resp.ts';
import { tempLabDir } from '../../helpers/labs.ts';

/**
 * The lab's Redis start path (seed §3.3 steps 4-5) against real redis-server 7:
 * an AOF Redis can load is loaded (a torn tail included), a corrupt one is kept
 * aside and the node starts from its last RDB snapshot, and a missing one is
 * rebuilt from the snapshot rather than starting empty.
 */
describe('lab: Redis AOF recovery and RDB restore (real redis-server)', () => {
  let lab: LocalLab;
  let dataDir: string;
  const master = () => lab.info.redis.master;
  const run = async (...args: string[]) => {
    const r = await redisCommand(master().host, master().port, args, 2000);
    if (r instanceof Error) throw r;
    return r;
  };
  const info = async () => String(await run('INFO', 'persistence'));

  /** Both data nodes down at once, so Sentinel has nothing to promote and the master stays the master. */
  const crashRedis = async () => {
    await Promise.all([lab.kill('redis-master', 'SIGKILL'), lab.kill('redis-replica', 'SIGKILL')]);
  };
  const newestIncr = () => {
    const dir = join(dataDir, AOF_DIR);
    const line = readFileSync(join(dir, AOF_MANIFEST), 'utf8')
      .split('\n')
      .filter((l) => / type i$/.test(l))
      .at(-1);
    if (!line) throw new Error('no incr file in the manifest');
    return join(dir, line.split(' ')[1]!);
  };

  /** Garbage a third of the way into the newest incr file: Redis refuses it and redis-check-aof agrees. */
  const corruptNewestIncr = () => {
    const f = newestIncr();
    const fd = openSync(f, 'r+');
    try {
      writeSync(fd, Buffer.from('\u0000garbage\u0000'.repeat(8)), 0, 72, Math.floor(statSync(f).size / 3));
    } finally {
      closeSync(fd);
    }
  };

  beforeAll(async () => {
    lab = await LocalLab.start({ dir: tempLabDir('redis-aof') });
    dataDir = join(lab.dir, 'redis-master');
  });
  afterAll(async () => {
    await lab?.stop({ clean: true });
  });

  it('a crashed master comes back from its AOF with every acknowledged write', async () => {
    for (let i = 0; i < 50; i++) await run('SET', `aof:${i}`, `v${i}`);
    await crashRedis();
    const restored = await lab.start('redis-master');
    expect(restored).toBeUndefined();
    expect(await run('GET', 'aof:49')).toBe('v49');
    expect(await run('DBSIZE')).toBeGreaterThanOrEqual(50);
  });

  it('a torn AOF tail is loaded by Redis itself (aof-load-truncated), not replaced by the snapshot', async () => {
    await run('SET', 'torn:keep', 'yes');
    await run('SET', 'torn:last', 'x'.repeat(200));
    await crashRedis();
    const f = newestIncr();
    truncateSync(f, statSync(f).size - 20);
    const restored = await lab.start('redis-master');
    expect(restored).toBeUndefined();
    expect(await run('GET', 'torn:keep')).toBe('yes');
    expect(await run('GET', 'torn:last')).toBeNull();
  });

  it('a corrupt AOF is kept aside and the node starts from its last RDB snapshot', async () => {
    await run('SET', 'snap:before', '1');
    const before = Number(/rdb_saves:(\d+)/.exec(await info())![1]);
    await run('BGSAVE');
    await waitFor(async () => {
      const i = await info();
      return /rdb_bgsave_in_progress:0/.test(i) && Number(/rdb_saves:(\d+)/.exec(i)![1]) > before ? true : undefined;
    }, { what: 'BGSAVE', timeoutMs: 10_000, intervalMs: 20 });
    for (let i = 0; i < 50; i++) await run('SET', `snap:after:${i}`, 'x'.repeat(40));
    await crashRedis();
    corruptNewestIncr();
    const restored = await lab.start('redis-master');
    expect(restored).toMatchObject({ reason: 'corrupt-aof', rdb: join(dataDir, 'dump.rdb') });
    expect(restored!.check).toMatch(/not valid/);
    expect(restored!.quarantined && existsSync(join(restored!.quarantined, AOF_MANIFEST))).toBe(true);
    expect(await run('GET', 'snap:before')).toBe('1');
    expect(await run('GET', 'snap:after:0')).toBeNull();
    // The restored node writes a new AOF on top of the snapshot: a second crash keeps new writes.
    await run('SET', 'snap:new', 'kept');
    await crashRedis();
    expect(await lab.start('redis-master')).toBeUndefined();
    expect(await run('GET', 'snap:new')).toBe('kept');
    expect(await run('GET', 'snap:before')).toBe('1');
  });

  it('a lab started over a directory whose AOF is corrupt restores the master from its snapshot and says so', async () => {
    await run('SET', 'up:snap', '1');
    await run('SAVE');
    await run('SET', 'up:after', '1');
    const dir = lab.dir;
    await lab.stop();
    corruptNewestIncr();
    lab = await LocalLab.start({ dir });
    const restored = lab.info.aofRestored ?? [];
    expect(restored.map((r) => [r.service, r.reason])).toContainEqual(['redis-master', 'corrupt-aof']);
    const m = restored.find((r) => r.service === 'redis-master')!;
    expect(m.quarantined && existsSync(join(m.quarantined, AOF_MANIFEST))).toBe(true);
    // A clean shutdown writes a last snapshot too, so nothing acknowledged before it is lost.
    expect(await run('GET', 'up:snap')).toBe('1');
    expect(await run('GET', 'up:after')).toBe('1');
  });

  it('a missing AOF is rebuilt from the snapshot instead of starting empty', async () => {
    await crashRedis();
    rmSync(join(dataDir, AOF_DIR), { recursive: true, force: true });
    const restored = await lab.start('redis-master');
    expect(restored).toMatchObject({ reason: 'missing-aof', quarantined: null });
    expect(await run('GET', 'snap:before')).toBe('1');
  });
});
