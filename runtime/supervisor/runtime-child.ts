import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseDocumentText } from '../../core/config/index.ts';
import { ConfigError } from '../../core/errors.ts';
import { parseRuntimeConfig, type RuntimeConfig } from '../config.ts';
import type { ChildSpec } from './supervisor.ts';

export interface RuntimeChildOptions {
  /** The user's runtime config file (JSON or YAML). */
  configFile: string;
  /** Compiled runtime entry (dist/runtime/main.js). */
  js: string;
  instances: number;
  /** Where the per-instance config files are written. */
  dir: string;
  node?: string;
  /** Compiled warm-standby entry (dist/runtime/supervisor/warm-entry.js): restarts skip Node's start and the imports. */
  warmJs?: string;
  /** Control API host of every instance (default 127.0.0.1). */
  host?: string;
}

/**
 * How the supervisor starts the real runtime. The runtime takes everything
 * from its config file, so each instance gets its own copy with what must differ
 * between instances: the control port the supervisor chose, and with N > 1 an
 * instance id `<id>-<i>` and a data dir of its own (DuckDB takes a file lock).
 * The file is rewritten on each start, so an edit of the user's file applies at
 * the next restart; a broken edit is caught here, before the child starts.
 */
export function runtimeChild(opts: RuntimeChildOptions): {
  base: RuntimeConfig;
  child: (index: number, port: number) => ChildSpec;
  /** The runtime instance id of instance `index` (for the supervisor's /health). */
  instanceId: (index: number) => string;
} {
  const file = resolve(opts.configFile);
  const read = (): Record<string, unknown> => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], { source: file, cause: e });
    }
    const doc = parseDocumentText(text, file);
    parseRuntimeConfig(doc, file);
    return doc as Record<string, unknown>;
  };
  const first = read();
  const base = parseRuntimeConfig(first, file);
  mkdirSync(opts.dir, { recursive: true });
  let lastGood = first;
  const idOf = (index: number) => (opts.instances > 1 ? `${base.runtime.instanceId}-${index}` : base.runtime.instanceId);
  return {
    base,
    instanceId: idOf,
    child: (index, port) => {
      let doc: Record<string, unknown>;
      try {
        doc = read();
        lastGood = doc;
      } catch {
        doc = lastGood; // the runtime's own last-good rule, applied before it even starts
      }
      const rt = { ...(doc.runtime as Record<string, unknown>) };
      const id = opts.instances > 1 ? `${String(rt.instanceId)}-${index}` : String(rt.instanceId);
      rt.instanceId = id;
      const dataDir = String(rt.dataDir);
      const absData = isAbsolute(dataDir) ? dataDir : resolve(dataDir);
      rt.dataDir = opts.instances > 1 ? join(absData, id) : absData;
      const host = opts.host ?? '127.0.0.1';
      rt.control = { ...(rt.control as Record<string, unknown> | undefined), host, port };
      const instanceFile = join(opts.dir, `${id}.json`);
      writeFileSync(instanceFile, JSON.stringify({ ...doc, runtime: rt }, null, 2));
      if (opts.warmJs) {
        return { command: opts.node ?? process.execPath, args: ['--config', instanceFile], warm: { args: [opts.warmJs] }, readyUrl: `http://${host}:${port}/ready` };
      }
      return {
        command: opts.node ?? process.execPath,
        args: [opts.js, '--config', instanceFile],
        readyUrl: `http://${host}:${port}/ready`,
      };
    },
  };
}
