import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { loadConfig } from '../../core/config/index.ts';
import { ensureBuilt } from '../../runtime/supervisor/build.ts';
import { checkServiceName, systemdUnit, windowsServiceScript } from '../../runtime/supervisor/service.ts';
import { distPathFor, REPO_ROOT, RUNTIME_ENTRY } from './supervise.ts';

interface InstallOpts {
  platform: 'windows' | 'systemd';
  name: string;
  out: string;
  config?: string;
  node?: string;
}

export function registerService(program: Command): void {
  const service = program.command('service').description('install the EA runtime as an OS service with the seed §3.6 restart policy');
  service
    .command('install')
    .description(
      'write the service definition: a .cmd with sc.exe create + sc.exe failure (windows) or a systemd unit; ' +
        'restart interval, attempts and window come from config process.*; prints {"platform","file","exec"}',
    )
    .addOption(new Option('--platform <platform>', 'target service manager').choices(['windows', 'systemd']).makeOptionMandatory())
    .option('--name <name>', 'service name', 'ea-chaos-runtime')
    .option('--out <dir>', 'directory to write the file into', '.')
    .option('--config <file>', 'JSON or YAML config file the service runs with')
    .option('--node <path>', 'node executable on the target machine (default: this one)')
    .action(async (opts: InstallOpts) => {
      const name = checkServiceName(opts.name);
      const config = loadConfig({ file: opts.config });
      const js = distPathFor(RUNTIME_ENTRY);
      // Build now so the service starts from compiled JS; a missing runtime entry only warns (the file is still useful).
      if (existsSync(RUNTIME_ENTRY)) await ensureBuilt({ entry: RUNTIME_ENTRY, outfile: js });
      else process.stderr.write(`warning: ${RUNTIME_ENTRY} does not exist yet; ${js} will not be there until it is built\n`);
      const exec = [opts.node ?? process.execPath, js];
      if (opts.config) exec.push('--config', resolve(opts.config));
      const spec = { name, exec, workingDirectory: REPO_ROOT };
      mkdirSync(opts.out, { recursive: true });
      const file = resolve(join(opts.out, opts.platform === 'windows' ? `install-${name}.cmd` : `${name}.service`));
      writeFileSync(file, opts.platform === 'windows' ? windowsServiceScript(spec, config) : systemdUnit(spec, config));
      process.stdout.write(`${JSON.stringify({ platform: opts.platform, file, exec })}\n`);
    });
}
