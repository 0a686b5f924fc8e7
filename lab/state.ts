import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpawnSpec } from './process.ts';
import type { LabInfo } from './types.ts';

export type Readiness =
  | { kind: 'redis'; host: string; port: number }
  | { kind: 'replica'; host: string; port: number }
  | { kind: 'sentinel'; host: string; port: number; masterName: string; peers: number; timers?: Record<string, number> }
  | { kind: 'http'; url: string }
  /** Any 2xx from GET url (the fault proxy's /version, the broker admin's /health). */
  | { kind: 'http-ok'; url: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'none' };

/** What is needed to (re)start a service and know it is ready; persisted in lab.json. */
export interface ServiceSpec extends SpawnSpec {
  marker: string;
  readiness: Readiness;
  /** How long SIGTERM gets before SIGKILL when the lab stops. */
  graceMs?: number;
}

export interface LabState {
  info: LabInfo;
  services: Record<string, ServiceSpec>;
}

export function stateFile(dir: string): string {
  return join(dir, 'lab.json');
}

export function readState(dir: string): LabState | undefined {
  const f = stateFile(dir);
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as LabState;
  } catch {
    return undefined; // torn by a killed `up`: treated as stale
  }
}

/** Atomic write: a reader never sees half a file. */
export function writeState(dir: string, state: LabState): void {
  const f = stateFile(dir);
  writeFileSync(`${f}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${f}.tmp`, f);
}
