import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../../core/errors.ts';
import { SymbolSpecSchema } from '../feed/symbols.ts';

const rate = z.number().min(0).max(1);
const timeoutMode = z.enum(['retcode', 'drop']);

export const FaultsSchema = z.strictObject({
  /** 10006 request rejected. */
  rejectRate: rate.default(0),
  /** 10004 requote with fresh prices. */
  requoteRate: rate.default(0),
  /** 10021 off quotes. */
  offQuotesRate: rate.default(0),
  /** 10031 no connection to the trade server. */
  connectionRate: rate.default(0),
  /** Above this many order_send per second (broker clock) the answer is 10024. */
  maxRequestsPerSecond: z.number().int().positive().nullable().default(null),
  latency: z
    .strictObject({
      fixedMs: z.number().nonnegative().default(0),
      jitterMs: z.number().nonnegative().default(0),
      /** Heavy tail: with this probability add a uniform 0…tailMs (MT5 tester's random delay has this shape). */
      tailProbability: rate.default(0),
      tailMs: z.number().nonnegative().default(0),
    })
    .prefault({}),
  /** Execute, then answer 10012 or drop the reply and close the connection. */
  timeoutAfterExecution: z.strictObject({ rate: rate.default(0), mode: timeoutMode.default('retcode') }).prefault({}),
  /** Do not execute; answer 10012 or drop the reply and close the connection. */
  timeoutBeforeExecution: z.strictObject({ rate: rate.default(0), mode: timeoutMode.default('retcode') }).prefault({}),
  /** New connections are closed at once. */
  refuseConnections: z.boolean().default(false),
  /** Windows of broker-clock time in which the market is closed (10018). */
  marketClosed: z
    .array(z.strictObject({ fromMsc: z.number(), toMsc: z.number() }).refine((w) => w.toMsc > w.fromMsc, 'toMsc must be after fromMsc'))
    .default([]),
  /** IOC/RETURN orders fill only part of their volume (10010). */
  partialFillRate: rate.default(0),
  partialFillRatio: z
    .tuple([z.number().gt(0).lt(1), z.number().gt(0).lt(1)])
    .refine(([a, b]) => a <= b, 'partialFillRatio must be [min, max] with min <= max')
    .default([0.3, 0.7]),
});
export type Faults = z.infer<typeof FaultsSchema>;
export type FaultsInput = z.input<typeof FaultsSchema>;

export const BrokerProfileSchema = z.strictObject({
  marginMode: z.enum(['netting', 'hedging']).default('hedging'),
  dedupe: z.boolean().default(false),
  balance: z.number().positive().default(100_000),
  leverage: z.number().int().positive().default(100),
  currency: z.string().default('USD'),
  faults: FaultsSchema.prefault({}),
});

export const FeedProfileSchema = z.strictObject({
  ticksPerSecond: z.number().positive().max(1_000_000).default(20),
  branching: z.number().min(0).max(0.95).default(0.8),
  stepMs: z.number().int().positive().max(1000).default(10),
});

export const SimulatorProfileSchema = z.strictObject({
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  symbols: z.array(z.union([z.string(), SymbolSpecSchema])).optional(),
  broker: BrokerProfileSchema.prefault({}),
  feed: FeedProfileSchema.prefault({}),
});
export type SimulatorProfile = z.infer<typeof SimulatorProfileSchema>;

export function noFaults(): Faults {
  return FaultsSchema.parse({});
}

export function zodIssues(error: z.ZodError, prefix = ''): ConfigIssue[] {
  return error.issues.map((i) => ({
    path: prefix + i.path.map((p, k) => (typeof p === 'number' ? `[${p}]` : `${k === 0 ? '' : '.'}${String(p)}`)).join(''),
    received: 'input' in i ? (i as { input?: unknown }).input : undefined,
    expected: i.message,
  }));
}

function invalid(what: string, error: z.ZodError, source?: string, prefix = ''): ConfigError {
  const issues = zodIssues(error, prefix);
  const first = issues[0]!;
  return new ConfigError(`${what}: ${first.path || '(root)'}: ${first.expected}${issues.length > 1 ? ` (+${issues.length - 1} more)` : ''}`, issues, { source });
}

/** Validate a faults object; throws ConfigError naming the field. */
export function parseFaults(input: unknown, source = 'faults'): Faults {
  const r = FaultsSchema.safeParse(input);
  if (!r.success) throw invalid('invalid faults', r.error, source);
  return r.data;
}

/** Deep-merge a patch into current knobs, then validate the result. */
export function mergeFaults(current: Faults, patch: unknown): Faults {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new ConfigError('invalid faults: body must be a JSON object', [{ path: '(root)', received: patch, expected: 'object' }]);
  }
  const merged: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    const cur = merged[k];
    merged[k] = cur && typeof cur === 'object' && !Array.isArray(cur) && v && typeof v === 'object' && !Array.isArray(v) ? { ...cur, ...v } : v;
  }
  return parseFaults(merged);
}

export function parseProfile(input: unknown, source = 'profile'): SimulatorProfile {
  const r = SimulatorProfileSchema.safeParse(input ?? {});
  if (!r.success) throw invalid(`invalid simulator profile ${source}`, r.error, source);
  return r.data;
}

/** Load a YAML or JSON profile file; every problem is a ConfigError (exit 2) naming the field. */
export function loadProfile(file: string): SimulatorProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read profile ${file}: ${(e as Error).message}`, [], { cause: e, source: file });
  }
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`profile ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`, [], { cause: e, source: file });
  }
  return parseProfile(doc, file);
}
