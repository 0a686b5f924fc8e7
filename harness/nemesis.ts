import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { EaChaosError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { NO_IMPAIRMENTS } from '../faultproxy/impairer.ts';
import { AOF_DIR, AOF_MANIFEST } from '../lab/redis.ts';
import type { UdpImpairmentFields, UdpImpairmentPatch } from '../faultproxy/client.ts';
import { holdFileLock } from './lock-holder.ts';
import type { FaultRecord } from './testbed/fault-log.ts';
import type { Testbed } from './testbed/testbed.ts';

/**
 * The nemesis: every fault the harness can inject, each with its heal step.
 * A fault is data (`FaultSpec`), so a scenario file, a Gherkin step and a
 * replay all go through the same code, and every application lands in the
 * fault log with the timestamps recovery is measured from.
 */
export type FaultKind =
  | 'process.kill'
  | 'process.pause'
  | 'process.stop'
  | 'network.down'
  | 'network.toxic'
  | 'udp.impair'
  | 'broker.knob'
  | 'broker.restart'
  | 'file.corrupt'
  | 'file.lock';

export interface FaultSpec {
  kind: FaultKind;
  /** Service (`redis-master` = the current master, `clickhouse`, `runtime:0`, ...), proxy route, or file. */
  target: string;
  /** How long the fault lasts before its heal step; absent for one-shot faults (a kill). */
  durationMs?: number;
  params?: Record<string, unknown>;
  id?: string;
  offsetMs?: number;
}

export interface ActiveFault {
  record: FaultRecord;
  /** Undo the fault now (idempotent). */
  heal(): Promise<void>;
}

const NO_HEAL = async () => {};

export class Nemesis {
  constructor(private readonly bed: Testbed) {}

  /** Lab service name for a target: `redis-master` follows failovers to whichever process is master now. */
  async labService(target: string): Promise<string> {
    if (target !== 'redis-master' && target !== 'redis-replica') return target;
    const st = await this.bed.lab.status();
    const want = target === 'redis-master' ? st.redis.master.port : st.redis.replicas[0]?.port;
    for (const svc of ['redis-master', 'redis-replica']) {
      const spec = (this.bed.lab as unknown as { state: { services: Record<string, { readiness: { port?: number } }> } }).state.services[svc];
      if (spec?.readiness.port === want) return svc;
    }
    throw new EaChaosError('E_FAULT_TARGET', `no lab service is the current ${target} (port ${want})`);
  }

  private runtimeIndex(target: string): number | undefined {
    const m = /^runtime(?::(\d+))?$/.exec(target);
    return m ? Number(m[1] ?? 0) : undefined;
  }

  private runtimePid(index: number): number {
    const pid = this.bed.supervisor?.status()[index]?.pid;
    if (!pid) throw new EaChaosError('E_FAULT_TARGET', `runtime ${index} has no running process`);
    return pid;
  }

  /** Apply `spec`; the returned handle heals it. With `durationMs`, `run()` heals by itself. */
  async inject(spec: FaultSpec): Promise<ActiveFault> {
    const log = this.bed.faultLog;
    const rt = this.runtimeIndex(spec.target);
    switch (spec.kind) {
      case 'process.kill': {
        if (rt !== undefined) {
          const pid = this.runtimePid(rt);
          const rec = log.begin(spec.kind, spec.target, { pid, ...spec.params }, spec.id);
          process.kill(pid, 'SIGKILL');
          return { record: rec, heal: NO_HEAL };
        }
        const svc = await this.labService(spec.target);
        const rec = log.begin(spec.kind, svc, { requested: spec.target, ...spec.params }, spec.id);
        await this.bed.lab.kill(svc, 'SIGKILL');
        // A killed lab service stays down until a heal (or a later fault) starts it again.
        return { record: rec, heal: async () => this.restartService(svc, rec) };
      }
      case 'process.stop': {
        const svc = await this.labService(spec.target);
        const rec = log.begin(spec.kind, svc, { requested: spec.target, ...spec.params }, spec.id);
        await this.bed.lab.kill(svc, 'SIGTERM');
        return { record: rec, heal: async () => this.restartService(svc, rec) };
      }
      case 'process.pause': {
        if (rt !== undefined) {
          const pid = this.runtimePid(rt);
          const rec = log.begin(spec.kind, spec.target, { pid }, spec.id);
          process.kill(pid, 'SIGSTOP');
          return {
            record: rec,
            heal: once(async () => {
              process.kill(pid, 'SIGCONT');
              log.heal(rec);
            }),
          };
        }
        const svc = await this.labService(spec.target);
        const rec = log.begin(spec.kind, svc, { requested: spec.target }, spec.id);
        this.bed.lab.pause(svc);
        return {
          record: rec,
          heal: once(async () => {
            this.bed.lab.resume(svc);
            log.heal(rec);
          }),
        };
      }
      case 'network.down': {
        const routes = this.routesFor(spec.target);
        const rec = log.begin(spec.kind, spec.target, { routes }, spec.id);
        for (const r of routes) await this.bed.faults.setEnabled(r, false);
        return {
          record: rec,
          heal: once(async () => {
            for (const r of routes) await this.bed.faults.setEnabled(r, true);
            log.heal(rec);
          }),
        };
      }
      case 'network.toxic': {
        const routes = this.routesFor(spec.target);
        const p = spec.params ?? {};
        const type = String(p.type ?? 'latency');
        const name = `${spec.id ?? 'nemesis'}-${type}`;
        const rec = log.begin(spec.kind, spec.target, { routes, ...p }, spec.id);
        for (const r of routes) {
          await this.bed.faults.addToxic(r, {
            name,
            type: type as never,
            stream: (p.stream as 'upstream' | 'downstream' | undefined) ?? 'downstream',
            toxicity: typeof p.toxicity === 'number' ? p.toxicity : 1,
            attributes: (p.attributes as Record<string, number> | undefined) ?? {},
          });
        }
        return {
          record: rec,
          heal: once(async () => {
            for (const r of routes) await this.bed.faults.removeToxic(r, name).catch(() => {});
            log.heal(rec);
          }),
        };
      }
      case 'udp.impair': {
        const rec = log.begin(spec.kind, spec.target, spec.params, spec.id);
        await this.bed.faults.updateUdpRelay(spec.target, { impairments: relayImpairments(spec.params ?? { blackhole: true }) });
        return {
          record: rec,
          heal: once(async () => {
            await this.bed.faults.updateUdpRelay(spec.target, { impairments: { both: { ...NO_IMPAIRMENTS } } });
            log.heal(rec);
          }),
        };
      }
      case 'broker.knob': {
        const rec = log.begin(spec.kind, 'broker', spec.params, spec.id);
        await this.bed.postJsonMethod('PATCH', this.bed.brokerAdmin('/faults'), spec.params ?? {});
        return {
          record: rec,
          heal: once(async () => {
            await this.bed.postJson(this.bed.brokerAdmin('/faults/reset'), {});
            log.heal(rec);
          }),
        };
      }
      case 'broker.restart': {
        const downMs = spec.durationMs ?? 0;
        const rec = log.begin(spec.kind, 'broker', { downMs }, spec.id);
        await this.bed.postJson(this.bed.brokerAdmin(`/restart?downMs=${downMs}`), {});
        log.heal(rec);
        return { record: rec, heal: NO_HEAL };
      }
      case 'file.corrupt':
        return this.corrupt(spec);
      case 'file.lock':
        return this.lock(spec);
    }
  }

  /**
   * Seed §3.4 "DuckDB file locked by another process": a second process waits for runtime N's
   * DuckDB file lock and holds it from the moment the runtime lets go (it dies, or stops) until
   * the heal. The runtime is not touched: a kill in the same schedule is what frees the file,
   * and its restart then meets the lock. The record's `lockedAt` says when the lock was taken.
   */
  private async lock(spec: FaultSpec): Promise<ActiveFault> {
    const [what, n] = spec.target.split(':') as [string, string | undefined];
    if (what !== 'duckdb-db') throw new EaChaosError('E_FAULT_TARGET', `file.lock target must be duckdb-db (optionally :N), got ${spec.target}`);
    const index = Number(n ?? 0);
    const file = this.bed.duckdbFile(`ea-${index}`);
    if (!existsSync(file)) throw new EaChaosError('E_FAULT_TARGET', `runtime ${index} has no DuckDB file at ${file}`);
    // It polls for the lock as long as the fault lasts (or 10 s for a fault healed by a step).
    const holder = await holdFileLock(file, { pollForMs: Math.max(10_000, spec.durationMs ?? 0) });
    const rec = this.bed.faultLog.begin(spec.kind, spec.target, { ...(spec.params ?? {}), file, instance: index }, spec.id);
    holder.lockedAt.then((at) => (rec.params = { ...rec.params, lockedAt: at })).catch(() => {});
    const heal = once(async () => {
      await holder.release();
      this.bed.faultLog.heal(rec);
    });
    // A scenario that fails before its heal must not leave the holder (or the lock) behind.
    this.bed.onStop(heal);
    return { record: rec, heal };
  }

  /** Inject, hold for `durationMs`, heal. One-shot faults return at once. */
  async run(spec: FaultSpec): Promise<FaultRecord> {
    const active = await this.inject(spec);
    if (spec.durationMs !== undefined && spec.kind !== 'broker.restart') {
      await new Promise((r) => setTimeout(r, spec.durationMs));
      await active.heal();
    }
    return active.record;
  }

  private async restartService(svc: string, rec: FaultRecord): Promise<void> {
    if (rec.healedAt) return;
    await this.bed.lab.start(svc);
    this.bed.faultLog.heal(rec);
  }

  /** `redis` means every Redis route; otherwise a proxy route by name. */
  private routesFor(target: string): string[] {
    if (target === 'redis') return Object.keys(this.bed.routes).filter((r) => r.startsWith('redis-'));
    if (!this.bed.routes[target]) {
      throw new EaChaosError('E_FAULT_TARGET', `no proxy route named ${target} (have: ${Object.keys(this.bed.routes).join(', ')}, redis)`);
    }
    return [target];
  }

  /**
   * Corrupt a runtime's file the way a crash mid-write would: the process is
   * frozen first (SIGSTOP) so nothing rewrites the file, bytes are overwritten,
   * then the process is killed and the supervisor restarts it into recovery.
   */
  /**
   * Seed §3.3 "Redis state corruption": the whole Redis deployment crashes (both data
   * nodes, SIGKILL, so nothing can be promoted) and the master's AOF is left damaged
   * (`garbage`: bytes overwritten mid-file; `truncate`: a torn tail; `delete`: the AOF
   * is gone). With `restart` (default) the nodes are started again at once, the master
   * first, through the lab's start path, which restores a refused AOF from the last RDB
   * snapshot; the fault record says what the lab did (`params.restore`).
   */
  private async corruptRedisAof(spec: FaultSpec): Promise<ActiveFault> {
    const master = await this.labService('redis-master');
    const replica = master === 'redis-master' ? 'redis-replica' : 'redis-master';
    const file = (spec.params?.file ?? spec.params ?? {}) as { mode?: string; restart?: boolean };
    const mode = file.mode ?? 'garbage';
    const aofDir = join(this.bed.lab.dir, master, AOF_DIR);
    await Promise.all([this.bed.lab.kill(master, 'SIGKILL'), this.bed.lab.kill(replica, 'SIGKILL')]);
    const target = newestAofFile(aofDir);
    const rec = this.bed.faultLog.begin(spec.kind, spec.target, { service: master, file: target ?? null, mode }, spec.id);
    if (mode === 'delete') rmSync(aofDir, { recursive: true, force: true });
    else if (target) {
      const size = statSync(target).size;
      if (mode === 'truncate') truncateSync(target, Math.floor(size / 2));
      else {
        // Garbage inside a value keeps the RESP framing and loads silently; at a command's
        // `*N` header it is what Redis and redis-check-aof both call a bad file format.
        const text = readFileSync(target);
        const header = text.indexOf('\r\n*', Math.floor(size / 3));
        const at = header >= 0 ? header + 2 : Math.floor(size / 3);
        const fd = openSync(target, 'r+');
        try {
          const junk = Buffer.from('\u0000garbage-from-the-nemesis\u0000'.repeat(8));
          writeSync(fd, junk, 0, Math.min(junk.length, Math.max(16, size - at)), at);
        } finally {
          closeSync(fd);
        }
      }
    }
    const heal = once(async () => {
      const restore = await this.bed.lab.start(master);
      rec.params = { ...rec.params, restore: restore ?? null };
      await this.bed.lab.start(replica);
      this.bed.faultLog.heal(rec);
    });
    if (file.restart ?? true) await heal();
    return { record: rec, heal };
  }

  private async corrupt(spec: FaultSpec): Promise<ActiveFault> {
    if (spec.target === 'redis-aof') return this.corruptRedisAof(spec);
    // `duckdb-wal:1` names runtime 1; without a suffix, runtime 0.
    const [what, n] = spec.target.split(':') as [string, string | undefined];
    const index = Number(n ?? (spec.params?.instance as number | undefined) ?? 0);
    const pid = this.runtimePid(index);
    const file = (() => {
      switch (what) {
        case 'config':
          return join(this.bed.dir, 'runtime', `ea-${index}.json`);
        // By name: the data dir also holds the backup (`.duckdb.backup[.wal]`) and, when the
        // runtime streams, the tick history (`.ticks.duckdb[.wal]`), which "first file ending in
        // .wal" could have picked.
        case 'duckdb-wal': {
          const wal = `${this.bed.duckdbFile(`ea-${index}`)}.wal`;
          return existsSync(wal) ? wal : undefined;
        }
        case 'duckdb-db':
          return this.bed.duckdbFile(`ea-${index}`);
        default:
          throw new EaChaosError('E_FAULT_TARGET', `file.corrupt target must be config, duckdb-wal or duckdb-db (optionally :N), got ${spec.target}`);
      }
    })();
    // Steps pass `{file: {...}}`; a resolved YAML schedule carries the file fields flat.
    const opts = (spec.params?.file ?? spec.params ?? {}) as { mode?: string; withBackup?: boolean };
    const files = [file, ...(what === 'duckdb-db' && opts.withBackup && file && existsSync(`${file}.backup`) ? [`${file}.backup`] : [])].filter((f): f is string => !!f);
    process.kill(pid, 'SIGSTOP');
    const rec = this.bed.faultLog.begin(spec.kind, spec.target, { file, files, mode: opts.mode ?? 'garbage', instance: index, pid }, spec.id);
    try {
      for (const f of files) damageFile(f, what === 'config' && opts.mode === 'mismatch' ? 'mismatch' : opts.mode === 'header' ? 'header' : 'garbage');
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    process.kill(pid, 'SIGCONT');
    return { record: rec, heal: NO_HEAL };
  }
}

/**
 * The newest non-empty file of a Redis AOF directory (the last incr file, else the
 * base): where a crash mid-append would leave damage.
 */
function newestAofFile(aofDir: string): string | undefined {
  const manifest = join(aofDir, AOF_MANIFEST);
  if (!existsSync(manifest)) return undefined;
  const files = readFileSync(manifest, 'utf8')
    .split('\n')
    .map((l) => /^file (\S+) seq (\d+) type ([bi])/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ file: join(aofDir, m[1]!), seq: Number(m[2]), incr: m[3] === 'i' }))
    .filter((f) => existsSync(f.file) && statSync(f.file).size > 0)
    .sort((a, b) => Number(a.incr) - Number(b.incr) || a.seq - b.seq);
  return files.at(-1)?.file;
}

/**
 * Scenario impairments (`{blackhole, loss, latency, ...}`, both directions) in the
 * relay's shape (`{both: {down, loss, ...}}`). A patch already in the relay's
 * shape passes through, so a step can impair one direction only.
 */
export function relayImpairments(p: Record<string, unknown>): UdpImpairmentPatch {
  if ('both' in p || 'upstream' in p || 'downstream' in p) {
    const { blackhole: _b, ...relay } = p;
    return relay as UdpImpairmentPatch;
  }
  const { blackhole, ...rest } = p;
  return { both: { ...(rest as UdpImpairmentFields), ...(blackhole !== undefined ? { down: blackhole === true } : {}) } };
}

/**
 * garbage: bytes overwritten a third of the way in, length kept (the reader must notice bad
 * content, not a short file); header: the first 4 KiB overwritten; mismatch: a JSON config
 * that still parses but no longer matches the schema, as another EA version's file would.
 */
function damageFile(file: string, mode: 'garbage' | 'header' | 'mismatch'): void {
  if (mode === 'mismatch') {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { runtime: Record<string, unknown>; trade?: Record<string, unknown> };
    const { magic, ...rest } = doc.runtime;
    doc.runtime = { ...rest, magicNumber: magic };
    doc.trade = { ...(doc.trade ?? {}), maxAttempts: 'five' };
    writeFileSync(file, JSON.stringify(doc, null, 2));
    return;
  }
  const size = existsSync(file) ? statSync(file).size : 0;
  const fd = openSync(file, 'r+');
  try {
    if (mode === 'header') writeSync(fd, Buffer.alloc(Math.min(4096, Math.max(16, size)), 0x5a), 0, Math.min(4096, Math.max(16, size)), 0);
    else {
      const junk = Buffer.from('\u0000garbage-from-the-nemesis\u0000'.repeat(8));
      writeSync(fd, junk, 0, Math.min(junk.length, Math.max(16, size)), Math.floor(size / 3));
    }
  } finally {
    closeSync(fd);
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/** Wait for a predicate on wall time, for steps that say "within N s". */
export async function within<T>(ms: number, what: string, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  return waitFor(fn, { what, timeoutMs: ms, intervalMs: 5 });
}
