import { resolve } from 'node:path';
import { rmSync } from 'node:fs';
import type { Config } from '../core/config/index.ts';
import { EaChaosError } from '../core/errors.ts';
import { LocalLab, labIsUp, reapStale, type LocalLabOptions } from './local.ts';
import { ExternalLab } from './external.ts';
import type { LabInfo } from './types.ts';

export * from './types.ts';
export { LocalLab, LabAlreadyUpError, labIsUp, reapStale } from './local.ts';
export { ExternalLab } from './external.ts';

/** What every lab provider hands back. */
export interface Lab extends AsyncDisposable {
  readonly info: LabInfo;
  status(): Promise<LabInfo>;
  stop(opts?: { clean?: boolean }): Promise<void>;
}

export interface StartLabOptions extends LocalLabOptions {
  config?: Config;
}

/** Start the lab for the configured provider: `local` processes or `external` endpoints. */
export async function startLab(options: StartLabOptions = {}): Promise<LocalLab | ExternalLab> {
  const provider = options.config?.lab.provider ?? 'local';
  if (provider === 'external') return ExternalLab.connect(options.config!);
  if (provider === 'testcontainers') {
    throw new EaChaosError('E_PROVIDER', 'the testcontainers provider is not available: use docker compose (see README) or the local provider');
  }
  return LocalLab.start(options);
}

/** Stop the lab recorded in `dir`, whichever process started it. */
export async function stopLabDir(dir: string, opts: { clean?: boolean } = {}): Promise<{ wasUp: boolean }> {
  const abs = resolve(dir);
  const lab = LocalLab.attach(abs);
  const wasUp = labIsUp(abs) !== undefined;
  if (lab) await lab.stop(opts);
  else {
    await reapStale(abs);
    if (opts.clean) rmSync(abs, { recursive: true, force: true });
  }
  return { wasUp };
}
