import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfiguration, runCucumber } from '@cucumber/cucumber/api';
import type { RunParameters } from '../features/support/world.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface SuiteOptions extends RunParameters {
  tags?: string;
  /** Feature file paths or globs; default: every feature. */
  paths?: string[];
  /** Called as each scenario finishes, for live progress. */
  onScenario?: (name: string, status: string) => void;
}

/** Run the Gherkin suite in-process through cucumber's API. */
export async function runSuite(opts: SuiteOptions): Promise<{ success: boolean }> {
  const { runConfiguration } = await loadConfiguration({
    provided: {
      paths: opts.paths ?? [join(ROOT, 'features', '**', '*.feature')],
      import: [join(ROOT, 'features', 'support', '*.ts'), join(ROOT, 'features', 'steps', '*.ts')],
      tags: opts.tags ?? '',
      format: [],
      worldParameters: {
        runDir: opts.runDir,
        seed: opts.seed,
        timeScale: opts.timeScale,
        ...(opts.runId !== undefined ? { runId: opts.runId } : {}),
        ...(opts.repeat !== undefined ? { repeat: opts.repeat } : {}),
        ...(opts.config ? { config: opts.config } : {}),
      },
      strict: true,
    } as Parameters<typeof loadConfiguration>[0] extends { provided?: infer P } ? P : never,
  });
  const names = new Map<string, string>();
  // Step files are ES modules: imported once per process, they register their steps once.
  // A second run in the same process (--repeat) must reuse the library the first one loaded.
  const options = loadedSupport ? { ...runConfiguration, support: loadedSupport } : runConfiguration;
  const { success, support } = await runCucumber(options, undefined, (env) => {
    if (env.pickle) names.set(env.pickle.id, env.pickle.name);
    if (env.testCaseStarted) names.set(env.testCaseStarted.id, names.get(caseToPickle.get(env.testCaseStarted.testCaseId) ?? '') ?? '');
    if (env.testCase) caseToPickle.set(env.testCase.id, env.testCase.pickleId);
    if (env.testStepFinished && env.testStepFinished.testStepResult.status !== 'PASSED') {
      status.set(env.testStepFinished.testCaseStartedId, env.testStepFinished.testStepResult.status);
    }
    if (env.testCaseFinished) {
      const id = env.testCaseFinished.testCaseStartedId;
      opts.onScenario?.(names.get(id) ?? id, status.get(id) ?? 'PASSED');
    }
  });
  loadedSupport = support;
  return { success };
}

let loadedSupport: Awaited<ReturnType<typeof runCucumber>>['support'] | undefined;

const caseToPickle = new Map<string, string>();
const status = new Map<string, string>();
