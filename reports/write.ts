import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { zodIssues } from '../core/config/load.ts';
import { ConfigError } from '../core/errors.ts';
import { renderHtml } from './html.ts';
import { renderJunit } from './junit.ts';
import { RunReportSchema, type RunReport } from './schema.ts';

export interface WrittenReport {
  dir: string;
  json: string;
  junit: string;
  html: string;
}

/** Write atomically (temp file + rename) so a reader never sees half a report. */
function put(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Render junit.xml and report.html next to an existing report.json. */
export function renderRunFiles(dir: string, report: RunReport): WrittenReport {
  const out = { dir, json: join(dir, 'report.json'), junit: join(dir, 'junit.xml'), html: join(dir, 'report.html') };
  put(out.junit, renderJunit(report));
  put(out.html, renderHtml(report));
  return out;
}

/** `reports/runs/<run-id>/`: report.json, junit.xml and report.html. */
export function writeRunReport(dir: string, report: RunReport): WrittenReport {
  mkdirSync(dir, { recursive: true });
  put(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return renderRunFiles(dir, report);
}

/** Read and validate `<dir>/report.json`; a missing or bad report is a ConfigError (exit 2) naming the problem. */
export function readRunReport(dir: string): RunReport {
  const file = join(dir, 'report.json');
  if (!existsSync(dir)) throw new ConfigError(`run directory ${dir} does not exist`, [{ path: 'run-dir', received: dir, expected: 'an existing run directory' }], { source: dir });
  if (!existsSync(file)) {
    throw new ConfigError(`no report in ${dir}: ${file} does not exist (was the run interrupted before its report was written?)`, [{ path: 'report.json', received: undefined, expected: 'a report written by ea-chaos run' }], { source: file });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`invalid JSON in ${file}: ${(e as Error).message}`, [], { source: file, cause: e });
  }
  const r = RunReportSchema.safeParse(doc);
  if (!r.success) {
    const issues = zodIssues(r.error, doc);
    throw new ConfigError(`invalid report ${file}:\n${issues.slice(0, 10).map((i) => `  - ${i.path}: expected ${i.expected}`).join('\n')}`, issues, { source: file });
  }
  return r.data;
}

/** A run id that sorts by time: `20261124-183012-s42`. */
export function makeRunId(startedAt: Date, seed: number): string {
  const iso = startedAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${iso}-s${seed}`;
}
