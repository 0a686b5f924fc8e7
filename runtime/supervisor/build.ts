import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EaChaosError } from '../../core/errors.ts';

export interface BuildResult {
  outfile: string;
  rebuilt: boolean;
  ms: number;
}

interface Stamp {
  entry: string;
  inputs: Record<string, { mtimeMs: number; size: number }>;
  /** Worker bundles built next to the output (see WORKERS). */
  workers?: string[];
}

/**
 * Worker threads a bundle starts by file: when a bundle includes `importer`, `entry` is bundled
 * too, as `outName` next to it (the importer looks for it there). A bundle has one file per entry,
 * so a worker cannot come from the same file.
 */
const WORKERS = [{ importer: 'runtime/stream/history-thread.ts', entry: 'runtime/stream/history-worker.ts', outName: 'tick-history-worker.js' }];

function unchanged(stampFile: string, outfile: string, entry: string): boolean {
  if (!existsSync(outfile) || !existsSync(stampFile)) return false;
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Stamp;
  } catch {
    return false;
  }
  if (stamp.entry !== entry) return false;
  if (stamp.workers?.some((w) => !existsSync(w))) return false;
  for (const [file, was] of Object.entries(stamp.inputs)) {
    try {
      const st = statSync(file);
      if (st.mtimeMs !== was.mtimeMs || st.size !== was.size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Bundle a TypeScript entry into one ESM file for Node, only when one of the
 * sources it imported last time changed (a stamp next to the output lists
 * them). Supervised children start from this file: tsx would add 130–210 ms to
 * every restart. Packages stay external and resolve from node_modules.
 */
export async function ensureBuilt(opts: { entry: string; outfile: string; force?: boolean }): Promise<BuildResult> {
  const entry = resolve(opts.entry);
  const outfile = resolve(opts.outfile);
  const stampFile = `${outfile}.inputs.json`;
  const t0 = performance.now();
  if (!opts.force && unchanged(stampFile, outfile, entry)) return { outfile, rebuilt: false, ms: performance.now() - t0 };
  mkdirSync(dirname(outfile), { recursive: true });
  const inputs: Stamp['inputs'] = {};
  const workers: string[] = [];
  const bundle = async (entryFile: string, out: string) => {
    let metafile;
    try {
      const { build } = await import('esbuild');
      const r = await build({
        entryPoints: [entryFile],
        outfile: out,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        sourcemap: true,
        metafile: true,
        logLevel: 'silent',
      });
      metafile = r.metafile;
    } catch (e) {
      throw new EaChaosError('E_BUILD', `cannot bundle ${entryFile}: ${(e as Error).message}`, { cause: e });
    }
    const files = Object.keys(metafile.inputs).map((rel) => resolve(rel));
    for (const file of files) {
      const st = statSync(file);
      inputs[file] = { mtimeMs: st.mtimeMs, size: st.size };
    }
    return files;
  };
  const files = await bundle(entry, outfile);
  for (const w of WORKERS) {
    if (!files.includes(join(REPO_ROOT, w.importer))) continue;
    const out = join(dirname(outfile), w.outName);
    await bundle(join(REPO_ROOT, w.entry), out);
    workers.push(out);
  }
  writeFileSync(stampFile, JSON.stringify({ entry, inputs, workers } satisfies Stamp));
  return { outfile, rebuilt: true, ms: performance.now() - t0 };
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUNTIME_ENTRY = join(REPO_ROOT, 'runtime', 'main.ts');
export const WARM_ENTRY = join(REPO_ROOT, 'runtime', 'supervisor', 'warm-entry.ts');

/** dist/<path of the entry inside the repo>.js: one compiled file per entry, rebuilt when its sources change. */
export function distPathFor(entry: string): string {
  const rel = relative(REPO_ROOT, resolve(entry));
  const inside = !rel.startsWith('..') && !rel.startsWith('/');
  const base = inside ? rel : join('external', rel.replace(/[:\\/.]+/g, '_'));
  return join(REPO_ROOT, 'dist', base.replace(/\.[cm]?[tj]s$/, '') + '.js');
}

/** The compiled JS for `entry` (TypeScript is bundled; plain .js/.mjs is used as it is). */
export async function compiledEntry(entry: string): Promise<string> {
  if (!existsSync(entry)) throw new EaChaosError('E_USAGE', `--entry ${entry} does not exist`);
  if (/\.m?js$/.test(entry)) return resolve(entry);
  return (await ensureBuilt({ entry, outfile: distPathFor(entry) })).outfile;
}
