import { arch, cpus, hostname, platform, release, totalmem } from 'node:os';

/** Facts about the machine a run happened on, for report.json `environment`. */
export function collectEnvironment(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cpu = cpus();
  return {
    node: process.version,
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1048576),
    hostname: hostname(),
    ci: Boolean(process.env['CI']),
    ...extra,
  };
}
