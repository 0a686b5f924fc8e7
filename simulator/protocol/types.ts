/**
 * Wire types of the simulated broker and market-data feed (docs/protocol.md).
 * Field names follow MT5 (MqlTradeRequest, MqlTradeResult, MqlTick, the
 * MetaTrader5 Python package) so that an EA bridge maps onto them one to one.
 */

/** Longest accepted request line, in bytes, excluding the newline. */
export const MAX_LINE_BYTES = 65_536;
/** MT5 terminal limit for `comment`. */
export const MAX_COMMENT_LENGTH = 31;

export const TradeAction = { DEAL: 1, PENDING: 5, SLTP: 6, MODIFY: 7, REMOVE: 8 } as const;
export type TradeActionValue = (typeof TradeAction)[keyof typeof TradeAction];

export const OrderType = { BUY: 0, SELL: 1, BUY_LIMIT: 2, SELL_LIMIT: 3, BUY_STOP: 4, SELL_STOP: 5 } as const;
export type OrderTypeValue = (typeof OrderType)[keyof typeof OrderType];

export const OrderFilling = { FOK: 0, IOC: 1, RETURN: 2 } as const;
export const OrderState = { STARTED: 0, PLACED: 1, CANCELED: 2, PARTIAL: 3, FILLED: 4, REJECTED: 5 } as const;
export const DealType = { BUY: 0, SELL: 1 } as const;
export const DealEntry = { IN: 0, OUT: 1, INOUT: 2 } as const;
export const Reason = { EXPERT: 3, SL: 4, TP: 5 } as const;
export const MarginMode = { NETTING: 0, HEDGING: 2 } as const;
export const TradeMode = { DISABLED: 0, FULL: 4 } as const;
export const ExecutionMode = { INSTANT: 1, MARKET: 2 } as const;
export const TickFlag = { BID: 2, ASK: 4, LAST: 8, VOLUME: 16 } as const;

/** MT5 trade-server return codes: the one table the simulator answers with and the runtime classifies. */
export const Retcode = {
  REQUOTE: 10004,
  REJECT: 10006,
  CANCEL: 10007,
  PLACED: 10008,
  DONE: 10009,
  DONE_PARTIAL: 10010,
  ERROR: 10011,
  TIMEOUT: 10012,
  INVALID: 10013,
  INVALID_VOLUME: 10014,
  INVALID_PRICE: 10015,
  INVALID_STOPS: 10016,
  TRADE_DISABLED: 10017,
  MARKET_CLOSED: 10018,
  NO_MONEY: 10019,
  PRICE_CHANGED: 10020,
  PRICE_OFF: 10021,
  TOO_MANY_REQUESTS: 10024,
  NO_CHANGES: 10025,
  LOCKED: 10028,
  FROZEN: 10029,
  INVALID_FILL: 10030,
  CONNECTION: 10031,
  POSITION_CLOSED: 10036,
  CLOSE_ORDER_EXIST: 10039,
} as const;
export type RetcodeValue = (typeof Retcode)[keyof typeof Retcode];

export const RETCODE_TEXT: Record<number, string> = {
  10004: 'requote',
  10006: 'request rejected',
  10007: 'request canceled by trader',
  10008: 'order placed',
  10009: 'done',
  10010: 'done partially',
  10011: 'request processing error',
  10012: 'request canceled by timeout',
  10013: 'invalid request',
  10014: 'invalid volume',
  10015: 'invalid price',
  10016: 'invalid stops',
  10017: 'trade disabled',
  10018: 'market closed',
  10019: 'no money',
  10020: 'price changed',
  10021: 'off quotes',
  10024: 'too many requests',
  10025: 'no changes in request',
  10028: 'request locked for processing',
  10029: 'order or position frozen',
  10030: 'invalid fill',
  10031: 'no connection',
  10036: 'position already closed',
  10039: 'close order already exists',
};

/** MqlTradeRequest (subset the simulator acts on; unknown fields are ignored). */
export interface MqlTradeRequest {
  action: number;
  magic?: number;
  order?: number;
  symbol?: string;
  volume?: number;
  price?: number;
  deviation?: number;
  type?: number;
  type_filling?: number;
  type_time?: number;
  sl?: number;
  tp?: number;
  comment?: string;
  position?: number;
}

export interface MqlTradeResult {
  retcode: number;
  deal: number;
  order: number;
  volume: number;
  price: number;
  bid: number;
  ask: number;
  comment: string;
  request_id: number;
  retcode_external: number;
}

export interface MqlTradeCheckResult {
  retcode: number;
  balance: number;
  equity: number;
  profit: number;
  margin: number;
  margin_free: number;
  margin_level: number;
  comment: string;
  request: MqlTradeRequest;
}

export interface TradeDeal {
  ticket: number;
  order: number;
  time: number;
  time_msc: number;
  type: number;
  entry: number;
  magic: number;
  reason: number;
  position_id: number;
  volume: number;
  price: number;
  commission: number;
  swap: number;
  profit: number;
  fee: number;
  symbol: string;
  comment: string;
  external_id: string;
}

export interface TradePosition {
  ticket: number;
  identifier: number;
  time: number;
  time_msc: number;
  time_update_msc: number;
  type: number;
  magic: number;
  reason: number;
  volume: number;
  price_open: number;
  sl: number;
  tp: number;
  price_current: number;
  swap: number;
  profit: number;
  symbol: string;
  comment: string;
}

export interface TradeOrder {
  ticket: number;
  time_setup_msc: number;
  time_done_msc: number;
  type: number;
  state: number;
  magic: number;
  position_id: number;
  volume_initial: number;
  volume_current: number;
  price_open: number;
  sl: number;
  tp: number;
  price_current: number;
  symbol: string;
  comment: string;
  type_filling: number;
  type_time: number;
}

/** A UTC weekly window; day 0 = Sunday, minutes from midnight, `to_min` exclusive. */
export interface SessionWindow {
  day: number;
  from_min: number;
  to_min: number;
}

export interface SymbolInfo {
  name: string;
  digits: number;
  point: number;
  trade_tick_size: number;
  trade_contract_size: number;
  volume_min: number;
  volume_max: number;
  volume_step: number;
  trade_stops_level: number;
  trade_freeze_level: number;
  trade_mode: number;
  trade_exemode: number;
  filling_mode: number;
  currency_base: string;
  currency_profit: string;
  bid: number;
  ask: number;
  spread: number;
  sessions: SessionWindow[];
}

export interface AccountInfo {
  login: number;
  name: string;
  server: string;
  currency: string;
  leverage: number;
  margin_mode: number;
  balance: number;
  equity: number;
  profit: number;
  margin: number;
  margin_free: number;
  margin_level: number;
  trade_allowed: boolean;
  trade_expert: boolean;
}

/** MqlTick plus the feed's transport fields (`stream`, `seq`, `epoch`). */
export interface Tick {
  stream: string;
  seq: number;
  epoch: number;
  symbol: string;
  bid: number;
  ask: number;
  last: number;
  volume: number;
  volume_real: number;
  time_msc: number;
  flags: number;
}

export interface FeedHello {
  /** `encodings`: what a subscribe line may ask for (absent from feeds that only speak JSON lines). */
  hello: { epoch: number; symbols: string[]; time_msc: number; encodings?: string[] };
}

export interface FeedSubscribe {
  op: 'subscribe';
  symbols: string[];
  /** 'binary': switch this connection to binary frames (simulator/protocol/feed-frames.ts); default JSON lines. */
  encoding?: 'json' | 'binary';
}

export interface QueryFilter {
  symbol?: string;
  magic?: number;
  comment?: string;
  ticket?: number;
  position?: number;
  from_msc?: number;
  to_msc?: number;
}

/** Op name → params and result, for the typed client. */
export interface BrokerOps {
  order_send: { params: { request: MqlTradeRequest }; result: MqlTradeResult };
  order_check: { params: { request: MqlTradeRequest }; result: MqlTradeCheckResult };
  positions_get: { params: QueryFilter; result: TradePosition[] };
  orders_get: { params: QueryFilter; result: TradeOrder[] };
  history_deals_get: { params: QueryFilter; result: TradeDeal[] };
  history_orders_get: { params: QueryFilter; result: TradeOrder[] };
  symbol_info: { params: { symbol: string }; result: SymbolInfo };
  symbol_info_tick: { params: { symbol: string }; result: Tick | null };
  account_info: { params: Record<string, never>; result: AccountInfo };
  ping: { params: Record<string, never>; result: { time_msc: number } };
}
export type BrokerOpName = keyof BrokerOps;
export const BROKER_OPS: readonly BrokerOpName[] = [
  'order_send',
  'order_check',
  'positions_get',
  'orders_get',
  'history_deals_get',
  'history_orders_get',
  'symbol_info',
  'symbol_info_tick',
  'account_info',
  'ping',
];

export type ProtocolErrorCode =
  | 'E_PARSE'
  | 'E_LINE_TOO_LONG'
  | 'E_BAD_REQUEST'
  | 'E_UNKNOWN_OP'
  | 'E_INVALID_PARAMS'
  | 'E_UNKNOWN_SYMBOL'
  | 'E_INTERNAL';

export type RequestId = string | number | boolean | object;

export interface BrokerRequest {
  id: RequestId;
  op: string;
  [param: string]: unknown;
}

export type BrokerAnswer<R = unknown> =
  | { id: RequestId | null; ok: true; result: R }
  | { id: RequestId | null; ok: false; error: { code: ProtocolErrorCode; message: string } };

/** Endpoints printed by `ea-chaos simulate` and recorded by the lab. */
export interface BrokerEndpoint {
  host: string;
  port: number;
  admin: string;
}
export interface FeedEndpoint {
  host: string;
  port: number;
  /** The feed's admin API (tick record, stats, rate, restart), when it runs one. */
  admin?: string;
}
