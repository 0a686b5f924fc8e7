import { z } from 'zod';
import { BROKER_OPS, MAX_COMMENT_LENGTH, type BrokerAnswer, type BrokerOpName, type MqlTradeRequest, type ProtocolErrorCode, type QueryFilter, type RequestId } from '../protocol/types.ts';

const int = z.number().int();
const nonNegInt = int.nonnegative();
const finite = z.number().finite();

export const TradeRequestSchema = z.looseObject({
  action: int,
  magic: nonNegInt.optional(),
  order: nonNegInt.optional(),
  symbol: z.string().max(64).optional(),
  volume: finite.optional(),
  price: finite.optional(),
  deviation: nonNegInt.optional(),
  type: int.optional(),
  type_filling: int.optional(),
  type_time: int.optional(),
  sl: finite.optional(),
  tp: finite.optional(),
  comment: z.string().max(MAX_COMMENT_LENGTH, `at most ${MAX_COMMENT_LENGTH} characters (MT5 comment limit)`).optional(),
  position: nonNegInt.optional(),
});

const FilterSchema = z.looseObject({
  symbol: z.string().optional(),
  magic: nonNegInt.optional(),
  comment: z.string().optional(),
  ticket: nonNegInt.optional(),
  position: nonNegInt.optional(),
  from_msc: finite.optional(),
  to_msc: finite.optional(),
});

const SymbolParam = z.looseObject({ symbol: z.string() });
const TradeParam = z.looseObject({ request: TradeRequestSchema });
const NoParams = z.looseObject({});

const PARAMS: Record<BrokerOpName, z.ZodType> = {
  order_send: TradeParam,
  order_check: TradeParam,
  positions_get: FilterSchema,
  orders_get: FilterSchema,
  history_deals_get: FilterSchema,
  history_orders_get: FilterSchema,
  symbol_info: SymbolParam,
  symbol_info_tick: SymbolParam,
  account_info: NoParams,
  ping: NoParams,
};

export type ParsedRequest =
  | { id: RequestId; op: 'order_send' | 'order_check'; request: MqlTradeRequest }
  | { id: RequestId; op: 'positions_get' | 'orders_get' | 'history_deals_get' | 'history_orders_get'; filter: QueryFilter }
  | { id: RequestId; op: 'symbol_info' | 'symbol_info_tick'; symbol: string }
  | { id: RequestId; op: 'account_info' | 'ping' };

export function errorAnswer(id: RequestId | null, code: ProtocolErrorCode, message: string): BrokerAnswer<never> {
  return { id, ok: false, error: { code, message } };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Turn one line into a typed request, or the error answer that names what is wrong. */
export function parseLine(line: string, knownSymbol: (s: string) => boolean): ParsedRequest | BrokerAnswer<never> {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    return errorAnswer(null, 'E_PARSE', `line is not JSON: ${(e as Error).message}`);
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return errorAnswer(null, 'E_BAD_REQUEST', `a request must be a JSON object, got ${describe(msg)}`);
  }
  const obj = msg as Record<string, unknown>;
  const id = obj.id;
  if (id === undefined || id === null) return errorAnswer(null, 'E_BAD_REQUEST', 'id: required (any JSON value except null)');
  const rid = id as RequestId;
  if (typeof obj.op !== 'string') return errorAnswer(rid, 'E_BAD_REQUEST', `op: expected string, received ${describe(obj.op)}`);
  const op = obj.op;
  if (!(BROKER_OPS as readonly string[]).includes(op)) {
    return errorAnswer(rid, 'E_UNKNOWN_OP', `unknown op ${JSON.stringify(op.slice(0, 64))}; expected one of ${BROKER_OPS.join(', ')}`);
  }
  const name = op as BrokerOpName;
  const parsed = PARAMS[name].safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String).join('.') || '(params)';
    return errorAnswer(rid, 'E_INVALID_PARAMS', `${path}: ${issue.message.replace(/^Invalid input: /, '')}`);
  }
  const p = parsed.data as Record<string, unknown>;
  switch (name) {
    case 'order_send':
    case 'order_check': {
      const request = p.request as MqlTradeRequest;
      if (request.symbol !== undefined && !knownSymbol(request.symbol)) {
        return errorAnswer(rid, 'E_UNKNOWN_SYMBOL', `request.symbol: unknown symbol ${JSON.stringify(request.symbol)}`);
      }
      const missing = missingField(request);
      if (missing) return errorAnswer(rid, 'E_INVALID_PARAMS', missing);
      return { id: rid, op: name, request };
    }
    case 'symbol_info':
    case 'symbol_info_tick': {
      const symbol = p.symbol as string;
      if (!knownSymbol(symbol)) return errorAnswer(rid, 'E_UNKNOWN_SYMBOL', `symbol: unknown symbol ${JSON.stringify(symbol)}`);
      return { id: rid, op: name, symbol };
    }
    case 'account_info':
    case 'ping':
      return { id: rid, op: name };
    default:
      return { id: rid, op: name, filter: p as QueryFilter };
  }
}

/** Fields without which an action cannot even be judged (the rest get MT5 retcodes). */
function missingField(r: MqlTradeRequest): string | undefined {
  const need = (field: keyof MqlTradeRequest) => (r[field] === undefined ? `request.${field}: required for action ${r.action}` : undefined);
  switch (r.action) {
    case 1:
      return (r.position === undefined ? need('symbol') : undefined) ?? need('volume') ?? need('type');
    case 5:
      return need('symbol') ?? need('volume') ?? need('type');
    case 6:
      return need('position');
    case 7:
    case 8:
      return need('order');
    default:
      return undefined;
  }
}
