import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { formatIssues, parseDocumentText, zodIssues } from '../core/config/load.ts';

/** One entry of Toxiproxy's `-config` / `POST /populate` format. */
const Entry = z.object({
  name: z.string().min(1),
  listen: z.string().optional(),
  upstream: z.string().min(1),
  enabled: z.boolean().optional(),
});

export const PopulateFileSchema = z.array(Entry);
export type PopulateEntry = z.infer<typeof Entry>;

/**
 * Validates a populate document up front, so a bad file fails the CLI with
 * exit 2 and the offending field (`[1].upstream`) instead of a 400 at start-up.
 * Unknown keys are allowed, as Toxiproxy ignores them.
 */
export function parsePopulateDocument(doc: unknown, source: string): PopulateEntry[] {
  const r = PopulateFileSchema.safeParse(doc);
  if (r.success) return r.data;
  const issues = zodIssues(r.error, doc);
  throw new ConfigError(formatIssues(source, issues), issues, { source, cause: r.error });
}

export function loadPopulateFile(path: string): PopulateEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read proxies file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: path, cause: e });
  }
  return parsePopulateDocument(parseDocumentText(text, path), path);
}
