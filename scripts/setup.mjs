#!/usr/bin/env node
// First step of `npm start` and `npm test` on a fresh machine: npm dependencies,
// then the Debian services the embedded lab runs. Plain JS with no dependencies,
// because it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// python3: the `file.lock` fault's lock holder takes a POSIX file lock, which Node cannot.
const PACKAGES = { 'redis-server': 'redis-server', 'redis-sentinel': 'redis-sentinel', 'clickhouse-server': 'clickhouse-server', python3: 'python3' };

function which(name) {
  for (const d of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    if (!d) continue;
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {}
  }
  return undefined;
}

function say(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

if (!existsSync(join(root, 'node_modules', '.package-lock.json')) && !existsSync(join(root, 'node_modules', 'tsx'))) {
  say('installing npm dependencies (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const missing = Object.keys(PACKAGES).filter((b) => !which(b));
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map((b) => PACKAGES[b]))];
  const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkgs.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    say(`missing ${missing.join(', ')}. Install them as root with:\n  sudo sh -c '${cmd}'`);
    process.exit(1);
  }
  if (!which('apt-get')) {
    say(`missing ${missing.join(', ')} and apt-get is not available: install ${pkgs.join(', ')} with your package manager`);
    process.exit(1);
  }
  say(`installing ${pkgs.join(', ')} with apt-get`);
  try {
    execFileSync('sh', ['-c', cmd], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (e) {
    say(`apt-get failed: ${e.message}`);
    process.exit(1);
  }
  // Debian's packages may start system-wide instances; the lab runs its own on free ports.
  for (const svc of ['redis-server', 'redis-sentinel', 'clickhouse-server']) {
    spawnSync('sh', ['-c', `command -v service >/dev/null && service ${svc} stop >/dev/null 2>&1 || true`]);
  }
  const still = Object.keys(PACKAGES).filter((b) => !which(b));
  if (still.length > 0) {
    say(`still missing after apt-get: ${still.join(', ')}`);
    process.exit(1);
  }
}
say('dependencies ready');
