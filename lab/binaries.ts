import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MissingBinaryError } from '../core/errors.ts';

/** The Debian package that provides each program the lab runs. */
export const DEBIAN_PACKAGES = {
  'redis-server': 'redis-server',
  'redis-sentinel': 'redis-sentinel',
  'clickhouse-server': 'clickhouse-server',
} as const;

export type LabBinary = keyof typeof DEBIAN_PACKAGES;

const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];

export function whichBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** Path of a lab binary, or a MissingBinaryError that names the package to install. */
export function requireBinary(name: LabBinary): string {
  const p = whichBinary(name);
  if (!p) throw new MissingBinaryError(name, DEBIAN_PACKAGES[name]);
  return p;
}
