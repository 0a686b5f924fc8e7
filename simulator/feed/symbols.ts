import { z } from 'zod';
import { ExecutionMode, TradeMode, type SessionWindow, type SymbolInfo } from '../protocol/types.ts';

/** Static symbol specification plus the parameters of its price process. */
export interface SymbolSpec extends Omit<SymbolInfo, 'bid' | 'ask' | 'spread'> {
  /** Starting mid price. */
  startPrice: number;
  /** Typical spread in points (EURUSD raw ≈ 0.2–0.3 pip = 2–3 points, mt5-trading.md §4.4). */
  spreadPoints: number;
  /** Share of the feed's tick rate that goes to this symbol. */
  weight: number;
}

const SessionSchema = z.strictObject({
  day: z.number().int().min(0).max(6),
  from_min: z.number().int().min(0).max(1440),
  to_min: z.number().int().min(0).max(1440),
});

/** Partial overrides accepted from profiles and options, merged over a preset or the base spec. */
export const SymbolSpecSchema = z.strictObject({
  name: z.string().min(1).max(32),
  digits: z.number().int().min(0).max(8).optional(),
  trade_contract_size: z.number().positive().optional(),
  volume_min: z.number().positive().optional(),
  volume_max: z.number().positive().optional(),
  volume_step: z.number().positive().optional(),
  trade_stops_level: z.number().int().nonnegative().optional(),
  trade_freeze_level: z.number().int().nonnegative().optional(),
  trade_mode: z.union([z.literal(0), z.literal(4)]).optional(),
  trade_exemode: z.union([z.literal(1), z.literal(2)]).optional(),
  filling_mode: z.number().int().min(0).max(3).optional(),
  currency_base: z.string().optional(),
  currency_profit: z.string().optional(),
  /** Weekly UTC windows, or a preset: `fx-week` (Sun 22:00 → Fri 22:00) or `always`. */
  sessions: z.union([z.array(SessionSchema), z.enum(['fx-week', 'always'])]).optional(),
  startPrice: z.number().positive().optional(),
  spreadPoints: z.number().int().positive().optional(),
  weight: z.number().positive().optional(),
});
export type SymbolSpecInput = z.infer<typeof SymbolSpecSchema>;

function fx(name: string, digits: number, startPrice: number, spreadPoints: number, weight: number): SymbolSpec {
  const point = Number((10 ** -digits).toFixed(digits));
  return {
    name,
    digits,
    point,
    trade_tick_size: point,
    trade_contract_size: 100_000,
    volume_min: 0.01,
    volume_max: 100,
    volume_step: 0.01,
    trade_stops_level: 10,
    trade_freeze_level: 0,
    trade_mode: TradeMode.FULL,
    trade_exemode: ExecutionMode.INSTANT,
    filling_mode: 3,
    currency_base: name.slice(0, 3),
    currency_profit: name.slice(3, 6),
    sessions: [],
    startPrice,
    spreadPoints,
    weight,
  };
}

export const DEFAULT_SYMBOLS: readonly SymbolSpec[] = [
  fx('EURUSD', 5, 1.0834, 3, 0.5),
  fx('GBPUSD', 5, 1.265, 8, 0.3),
  fx('USDJPY', 3, 151.2, 4, 0.2),
];

/** FX week in UTC (winter): Sunday 22:00 → Friday 22:00 (mt5-trading.md §4.6). */
export const FX_WEEK_SESSIONS: SessionWindow[] = [
  { day: 0, from_min: 22 * 60, to_min: 1440 },
  { day: 1, from_min: 0, to_min: 1440 },
  { day: 2, from_min: 0, to_min: 1440 },
  { day: 3, from_min: 0, to_min: 1440 },
  { day: 4, from_min: 0, to_min: 1440 },
  { day: 5, from_min: 0, to_min: 22 * 60 },
];

/** Build full specs: known names start from their preset, unknown names from a 5-digit FX template. */
export function resolveSymbols(inputs?: readonly (SymbolSpecInput | string)[]): SymbolSpec[] {
  if (!inputs || inputs.length === 0) return DEFAULT_SYMBOLS.map((s) => ({ ...s, sessions: [...s.sessions] }));
  return inputs.map((raw) => {
    const input: SymbolSpecInput = typeof raw === 'string' ? { name: raw } : SymbolSpecSchema.parse(raw);
    const base = DEFAULT_SYMBOLS.find((s) => s.name === input.name) ?? fx(input.name, input.digits ?? 5, input.startPrice ?? 1.2, 5, 0.2);
    const digits = input.digits ?? base.digits;
    const point = Number((10 ** -digits).toFixed(digits));
    const { sessions: rawSessions, ...rest } = input;
    const sessions = rawSessions === 'fx-week' ? FX_WEEK_SESSIONS.map((w) => ({ ...w })) : rawSessions === 'always' ? [] : (rawSessions ?? base.sessions);
    const merged: SymbolSpec = { ...base, ...stripUndefined(rest), sessions, digits, point, trade_tick_size: point };
    return merged;
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether `timeMs` (UTC) falls inside the symbol's weekly sessions; no sessions = always open. */
export function inSession(sessions: readonly SessionWindow[], timeMs: number): boolean {
  if (sessions.length === 0) return true;
  const d = new Date(timeMs);
  const day = d.getUTCDay();
  const min = d.getUTCHours() * 60 + d.getUTCMinutes();
  return sessions.some((s) => s.day === day && min >= s.from_min && min < s.to_min);
}

/** Round a price to the symbol's digits, avoiding binary-float tails like 1.0834000000000001. */
export function roundPrice(price: number, digits: number): number {
  return Number(price.toFixed(digits));
}
