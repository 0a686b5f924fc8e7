import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { ConfigSchema, type Config } from './schema.ts';

/** `trade.backoffMs[2]` from zod's path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/** A value as an error message shows it: JSON, shortened. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(v);
  }
}

/** Turn zod issues into precise ConfigIssues: path, received value, expectation. */
export function zodIssues(error: z.ZodError, root: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = formatPath([...issue.path, key]);
        issues.push({ path, received: valueAt(root, [...issue.path, key]), expected: 'no such field (unknown key)' });
      }
      continue;
    }
    issues.push({ path: formatPath(issue.path), received: valueAt(root, issue.path), expected: issue.message });
  }
  return issues;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

export function formatIssues(source: string, issues: readonly ConfigIssue[], noun = 'config in'): string {
  const lines = issues.map((i) => `  - ${i.path}: got ${describeValue(i.received)}; expected ${i.expected}`);
  return `invalid ${noun} ${source}:\n${lines.join('\n')}`;
}

/** Validate an already-parsed document. Throws ConfigError naming every bad field. */
export function parseConfig(doc: unknown, source = 'config'): Config {
  const input = doc === null || doc === undefined ? {} : doc;
  const result = ConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = zodIssues(result.error, input);
  throw new ConfigError(formatIssues(source, issues), issues, { source, cause: result.error });
}

/** Parse JSON or YAML text (YAML is a superset of JSON) with line/column on syntax errors. */
export function parseDocumentText(text: string, source: string): unknown {
  const ext = extname(source).toLowerCase();
  if (ext === '.json') {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`invalid JSON in ${source}: ${(e as Error).message}`, [], { source, cause: e });
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : '';
    throw new ConfigError(`invalid YAML in ${source}${where}: ${first.message.split('\n')[0]}`, [], { source, cause: first });
  }
  try {
    // toJS() can still throw, e.g. on an alias whose anchor does not exist.
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(`invalid YAML in ${source}: ${(e as Error).message}`, [], { source, cause: e });
  }
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], {
      source: path,
      cause: e,
    });
  }
  return parseConfig(parseDocumentText(text, path), path);
}

export interface LoadOptions {
  file?: string;
  /** Overrides applied after the file, e.g. from CLI flags. */
  timeScale?: number;
  seed?: number;
}

/** The config as the CLI sees it: defaults, then the file, then flags. */
export function loadConfig(options: LoadOptions = {}): Config {
  const base = options.file ? loadConfigFile(options.file) : parseConfig({}, 'defaults');
  const merged = { ...base };
  if (options.timeScale !== undefined) merged.timeScale = options.timeScale;
  if (options.seed !== undefined) merged.seed = options.seed;
  return parseConfig(merged, options.file ?? 'flags');
}
