import type { Config } from '../../core/config/index.ts';
import { EaChaosError } from '../../core/errors.ts';

export interface ServiceSpec {
  name: string;
  /** The full command line the service runs (already quoted for its platform). */
  exec: string[];
  workingDirectory: string;
  description?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$/;

export function checkServiceName(name: string): string {
  if (!NAME.test(name)) throw new EaChaosError('E_USAGE', `--name must be letters, digits, '_', '.', '@' or '-' (at most 80), got "${name}"`);
  return name;
}

/**
 * Seed §3.6 for production: the service manager restarts the EA. The policy is
 * the `process` section of the config at full time scale (timeScale compresses
 * tests, not production): restart after `restartIntervalMs`, at most
 * `maxRestartAttempts` within `cooldownMs`, then stop.
 */
export function restartPolicyOf(config: Config) {
  const p = config.process;
  return { intervalMs: p.restartIntervalMs, attempts: p.maxRestartAttempts, windowSec: Math.max(1, Math.ceil(p.cooldownMs / 1000)) };
}

function winQuote(arg: string): string {
  return /[\s"]/.test(arg) ? `"${arg.replace(/"/g, '\\"')}"` : arg;
}

/** A .cmd script: `sc.exe create`, then `sc.exe failure` with one restart/<ms> action per allowed restart. */
export function windowsServiceScript(spec: ServiceSpec, config: Config): string {
  const name = checkServiceName(spec.name);
  const p = restartPolicyOf(config);
  const binPath = spec.exec.map(winQuote).join(' ').replace(/"/g, '\\"');
  const actions = Array.from({ length: p.attempts }, () => `restart/${p.intervalMs}`).join('/');
  return [
    '@echo off',
    `rem ea-chaos EA runtime as a Windows service (seed 3.6): restart after ${p.intervalMs} ms, ${p.attempts} restarts per ${p.windowSec} s, then stopped.`,
    `rem The failure counter resets after ${p.windowSec} s without a failure (reset= is in seconds, restart delays in ms).`,
    `sc.exe create ${name} binPath= "${binPath}" start= auto DisplayName= "${spec.description ?? `ea-chaos EA runtime (${name})`}"`,
    `sc.exe failure ${name} reset= ${p.windowSec} actions= ${actions}`,
    'rem Apply the failure actions also when the process exits with an error code, not only on a crash.',
    `sc.exe failureflag ${name} 1`,
    `sc.exe start ${name}`,
    '',
  ].join('\r\n');
}

function systemdQuote(arg: string): string {
  return /[\s"'\\]/.test(arg) ? `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : arg;
}

function systemdSeconds(ms: number): string {
  return ms % 1000 === 0 ? String(ms / 1000) : `${ms}ms`;
}

/** A systemd unit: Restart=always, RestartSec, StartLimitBurst/StartLimitIntervalSec from the config. */
export function systemdUnit(spec: ServiceSpec, config: Config): string {
  const name = checkServiceName(spec.name);
  const p = restartPolicyOf(config);
  return [
    '[Unit]',
    `Description=${spec.description ?? `ea-chaos EA runtime (${name})`}`,
    'After=network-online.target',
    'Wants=network-online.target',
    `# Seed 3.6: at most ${p.attempts} restarts within ${p.windowSec} s, then the unit is left failed (systemd's default is 5 in 10 s).`,
    `StartLimitIntervalSec=${p.windowSec}`,
    `StartLimitBurst=${p.attempts}`,
    '',
    '[Service]',
    'Type=simple',
    `WorkingDirectory=${spec.workingDirectory}`,
    `ExecStart=${spec.exec.map(systemdQuote).join(' ')}`,
    '# Restart on crash and on forced exit alike; systemd would wait 100 ms by default.',
    'Restart=always',
    `RestartSec=${systemdSeconds(p.intervalMs)}`,
    'KillSignal=SIGTERM',
    'TimeoutStopSec=10',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
