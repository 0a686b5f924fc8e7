import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EaChaosError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';

/**
 * Lab services run as detached processes so that `ea-chaos lab up` can return
 * and leave them running. Each writes a pidfile under <dir>/pids the moment it
 * is spawned, so a lab whose `up` was killed half-way can still be cleaned up.
 * A pid is only ever signalled after /proc confirms it still runs the command
 * we started (pids get reused).
 */
export interface SpawnSpec {
  service: string;
  command: string;
  args: string[];
  cwd: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

export interface PidRecord {
  service: string;
  pid: number;
  /** A string that must appear in /proc/<pid>/cmdline, to survive pid reuse. */
  marker: string;
}

export function pidDir(labDir: string): string {
  return join(labDir, 'pids');
}

export function spawnService(labDir: string, spec: SpawnSpec, marker: string): PidRecord {
  const out = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      detached: true,
      stdio: ['ignore', out, out],
      env: spec.env ?? process.env,
    });
    if (child.pid === undefined) throw new EaChaosError('E_SPAWN', `could not start ${spec.service} (${spec.command})`);
    child.unref();
    // Errors after spawn (e.g. ENOENT) surface as a dead pid during readiness.
    child.on('error', () => {});
    const rec: PidRecord = { service: spec.service, pid: child.pid, marker };
    writeFileSync(join(pidDir(labDir), `${spec.service}.pid`), JSON.stringify(rec));
    return rec;
  } finally {
    closeSync(out);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by us) counts as dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when `pid` is alive and still runs the process we recorded. */
export function isOurs(rec: PidRecord): boolean {
  if (!isAlive(rec.pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmdline.includes(rec.marker);
  } catch {
    return false;
  }
}

export function readPidRecords(labDir: string): PidRecord[] {
  const dir = pidDir(labDir);
  if (!existsSync(dir)) return [];
  const out: PidRecord[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.pid')) continue;
    try {
      const rec = JSON.parse(readFileSync(join(dir, f), 'utf8')) as PidRecord;
      if (typeof rec.pid === 'number' && typeof rec.marker === 'string') out.push(rec);
    } catch {
      /* a torn pidfile from a killed `up`: nothing to signal */
    }
  }
  return out;
}

export function removePidRecord(labDir: string, service: string): void {
  rmSync(join(pidDir(labDir), `${service}.pid`), { force: true });
}

/** SIGTERM, wait for exit, then SIGKILL. Idempotent; never signals a reused pid. */
export async function stopProcess(rec: PidRecord, graceMs = 3000): Promise<void> {
  if (!isOurs(rec)) return;
  signal(rec.pid, 'SIGTERM');
  try {
    await waitFor(() => !isAlive(rec.pid) || undefined, { what: `${rec.service} exit`, timeoutMs: graceMs, intervalMs: 10 });
    return;
  } catch {
    /* fall through to SIGKILL */
  }
  signal(rec.pid, 'SIGKILL');
  await waitFor(() => !isAlive(rec.pid) || undefined, { what: `${rec.service} exit after SIGKILL`, timeoutMs: 5000, intervalMs: 10 });
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Service folders of a lab; a process whose config or working directory is inside one belongs to the lab. */
const SERVICE_DIRS = ['redis-master', 'redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3', 'clickhouse', 'proxy', 'simulator'];

/**
 * Processes of the lab in `labDir` found through /proc rather than pidfiles: an
 * `up` killed between spawn() and writing the pidfile leaves a process no
 * pidfile knows about. Matches a service's config path in the command line or a
 * working directory inside a service folder, never this process itself.
 */
export function findLabProcesses(labDir: string): PidRecord[] {
  const dirs = SERVICE_DIRS.map((d) => join(labDir, d));
  const out: PidRecord[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        /* another user's process, or gone */
      }
      const dir = dirs.find((d) => cmdline.includes(`${d}/`) || cwd === d);
      if (!dir) continue;
      // The marker is what identified it, so isOurs() re-checks the same thing before signalling.
      out.push({ service: `orphan-${pid}`, pid, marker: cmdline.includes(`${dir}/`) ? `${dir}/` : cmdline.trim() });
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}
