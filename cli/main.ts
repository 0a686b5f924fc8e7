import { Command, CommanderError } from 'commander';
import { registerConfig } from './commands/config.ts';
import { registerLab } from './commands/lab.ts';
import { registerRun } from './commands/run.ts';
import { registerProxy } from './commands/proxy.ts';
import { registerSimulate } from './commands/simulate.ts';
import { registerSupervise } from './commands/supervise.ts';
import { registerService } from './commands/service.ts';
import { registerRuntime } from './commands/runtime.ts';
import { registerReport } from './commands/report.ts';
import { addConsumerCommand } from './commands/consumer.ts';
import { EXIT_USAGE, exitCodeFor, reportError } from './exit.ts';

export function buildProgram(): Command {
  const program = new Command('ea-chaos')
    .description('Chaos-testing harness and reference fault-tolerant runtime for trading Expert Advisors')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerConfig(program);
  registerLab(program);
  registerRun(program);
  registerProxy(program);
  registerSimulate(program);
  registerSupervise(program);
  registerService(program);
  registerRuntime(program);
  registerReport(program);
  addConsumerCommand(program.commands.find((c) => c.name() === 'simulate') ?? program.command('simulate').description('run simulators'));
  for (const cmd of program.commands) applyDefaults(cmd);
  return program;
}

function applyDefaults(cmd: Command): void {
  cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
  for (const sub of cmd.commands) applyDefaults(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (unknown option, missing argument...).
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    reportError(err);
    return exitCodeFor(err);
  }
}

