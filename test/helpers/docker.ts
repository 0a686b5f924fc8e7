import { spawnSync } from 'node:child_process';

/** Is a Docker engine reachable? `docker --version` alone only proves the client exists. */
export function dockerEngine(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return { ok: false, reason: `no docker client (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})` };
  if (r.status !== 0) return { ok: false, reason: `no Docker engine reachable: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  return { ok: true };
}
