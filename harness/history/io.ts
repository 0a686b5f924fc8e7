import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { zodIssues } from '../../core/config/load.ts';
import { ConfigError } from '../../core/errors.ts';
import { RunHistorySchema, type RunHistory } from './schema.ts';

/** Validate a parsed history document; ConfigError names every bad field. */
export function parseHistory(doc: unknown, source = 'history'): RunHistory {
  const r = RunHistorySchema.safeParse(doc);
  if (r.success) return r.data;
  const issues = zodIssues(r.error, doc);
  const shown = issues.slice(0, 10).map((i) => `  - ${i.path}: expected ${i.expected}`);
  throw new ConfigError(`invalid history ${source}:\n${shown.join('\n')}${issues.length > 10 ? `\n  (+${issues.length - 10} more)` : ''}`, issues, { source });
}

export function readHistoryFile(path: string): RunHistory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read history ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: path, cause: e });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`invalid JSON in ${path}: ${(e as Error).message}`, [], { source: path, cause: e });
  }
  return parseHistory(doc, path);
}

/** `histories/003-redis-master-kill-r1.json`: ordered, readable, unique within a run. */
export function historyFileName(index: number, h: Pick<RunHistory, 'scenario' | 'repeat'>): string {
  return `${String(index + 1).padStart(3, '0')}-${h.scenario}-r${h.repeat + 1}.json`;
}

export function writeHistories(runDir: string, histories: readonly RunHistory[]): string[] {
  const dir = join(runDir, 'histories');
  mkdirSync(dir, { recursive: true });
  return histories.map((h, i) => {
    const file = join(dir, historyFileName(i, h));
    writeFileSync(file, `${JSON.stringify(h)}\n`);
    return file;
  });
}

/** Every history of a run directory, in file order; [] when there are none. */
export function readHistories(runDir: string): RunHistory[] {
  const dir = join(runDir, 'histories');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readHistoryFile(join(dir, f)));
}

/** What `replay` needs from a run: each scenario run's seed and resolved schedule, in run order. */
export function readSchedules(runDir: string): Pick<RunHistory, 'scenario' | 'repeat' | 'seed' | 'timeScale' | 'schedule'>[] {
  return readHistories(runDir).map((h) => ({ scenario: h.scenario, repeat: h.repeat, seed: h.seed, timeScale: h.timeScale, schedule: h.schedule }));
}
