/**
 * The order lifecycle as an explicit, pure state machine.
 *
 *   intent → persisted → submitted → filled | partially_filled | rejected | unknown → reconciled
 *
 * plus two states the arrow leaves implicit: `retrying` (the broker
 * explicitly refused, so a resend is safe after the backoff) and `failed` (every
 * retry, including the `failed_syncs` rounds, was refused). The rule that keeps
 * orders from being duplicated lives here, not in the engine: `send` is only
 * legal from `persisted` (first send) or `retrying`, and the only ways into
 * `retrying` are an explicit broker refusal or broker records proving the order
 * absent. A timeout can only lead to `unknown`, and `unknown` can only be left
 * through the broker's own records.
 */
export type OrderState =
  | 'intent'
  | 'persisted'
  | 'submitted'
  | 'retrying'
  | 'filled'
  | 'partially_filled'
  | 'rejected'
  | 'unknown'
  | 'reconciled'
  | 'failed';

export const TERMINAL_STATES: ReadonlySet<OrderState> = new Set(['filled', 'partially_filled', 'rejected', 'reconciled', 'failed']);

export type Side = 'buy' | 'sell';

export interface OrderRecord {
  clientId: string;
  magic: number;
  symbol: string;
  side: Side;
  volume: number;
  /** Requested price; null lets the engine take the current quote at each send. */
  price: number | null;
  /** Price of the last send. */
  sentPrice: number | null;
  deviation: number;
  sl: number;
  tp: number;
  origin: 'api' | 'strategy';
  state: OrderState;
  /** How many times the request left for the broker. */
  sends: number;
  /** Transient refusals in the current round (backoff index). */
  attempts: number;
  /** 0 while in the first backoff round; n after n `failed_syncs` rounds. */
  failedRounds: number;
  retcode: number | null;
  brokerOrder: number | null;
  deal: number | null;
  filledVolume: number;
  fillPrice: number | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export type OrderEvent =
  | { type: 'persist' }
  /** Local validation failed (invalid price/volume): never reaches the broker. */
  | { type: 'invalid'; error: string }
  | { type: 'send'; price: number }
  | { type: 'filled'; retcode: number; order: number; deal: number; volume: number; price: number }
  | { type: 'partial'; retcode: number; order: number; deal: number; volume: number; price: number }
  | { type: 'refused'; retcode: number; error?: string }
  | { type: 'fatal'; retcode: number; error: string }
  /** Timeout, connection lost after send, or a code whose outcome is unknown. */
  | { type: 'lost'; retcode: number | null; error: string }
  /** Restart found a non-terminal order: it may have been sent. */
  | { type: 'recover' }
  /** Broker records hold a deal for this order. */
  | { type: 'found'; order: number; deal: number; volume: number; price: number }
  /** Broker records prove the order absent: a resend is now safe. */
  | { type: 'absent' }
  /** Retries exhausted: give up (only from `retrying`). */
  | { type: 'give_up'; error: string }
  /** Start a new round of retries from `failed_syncs`. */
  | { type: 'next_round' };

export class IllegalTransitionError extends Error {
  readonly code = 'E_ORDER_TRANSITION';
  constructor(
    readonly from: OrderState,
    readonly event: OrderEvent['type'],
  ) {
    super(`order cannot take '${event}' in state '${from}'`);
  }
}

const ALLOWED: Record<OrderEvent['type'], readonly OrderState[]> = {
  persist: ['intent'],
  invalid: ['intent'],
  send: ['persisted', 'retrying'],
  filled: ['submitted'],
  partial: ['submitted'],
  refused: ['submitted'],
  fatal: ['submitted'],
  lost: ['submitted'],
  recover: ['persisted', 'submitted', 'retrying', 'unknown'],
  found: ['unknown'],
  absent: ['unknown'],
  give_up: ['retrying'],
  next_round: ['retrying'],
};

export function canApply(state: OrderState, event: OrderEvent['type']): boolean {
  return ALLOWED[event].includes(state);
}

export function isTerminal(state: OrderState): boolean {
  return TERMINAL_STATES.has(state);
}

/** Apply one event; returns a new record (the input is not changed). */
export function applyEvent(o: OrderRecord, e: OrderEvent, now: number): OrderRecord {
  if (!canApply(o.state, e.type)) throw new IllegalTransitionError(o.state, e.type);
  const n: OrderRecord = { ...o, updatedAt: now };
  switch (e.type) {
    case 'persist':
      n.state = 'persisted';
      break;
    case 'invalid':
      n.state = 'rejected';
      n.error = e.error;
      break;
    case 'send':
      n.state = 'submitted';
      n.sends = o.sends + 1;
      n.sentPrice = e.price;
      break;
    case 'filled':
    case 'partial':
      n.state = e.type === 'filled' ? 'filled' : 'partially_filled';
      n.retcode = e.retcode;
      n.brokerOrder = e.order;
      n.deal = e.deal;
      n.filledVolume = e.volume;
      n.fillPrice = e.price;
      n.error = null;
      break;
    case 'refused':
      n.state = 'retrying';
      n.retcode = e.retcode;
      n.attempts = o.attempts + 1;
      n.error = e.error ?? null;
      break;
    case 'fatal':
      n.state = 'rejected';
      n.retcode = e.retcode;
      n.error = e.error;
      break;
    case 'lost':
      n.state = 'unknown';
      n.retcode = e.retcode;
      n.error = e.error;
      break;
    case 'recover':
      n.state = 'unknown';
      break;
    case 'found':
      n.state = 'reconciled';
      n.brokerOrder = e.order;
      n.deal = e.deal;
      n.filledVolume = e.volume;
      n.fillPrice = e.price;
      n.error = null;
      break;
    case 'absent':
      n.state = 'retrying';
      break;
    case 'give_up':
      n.state = 'failed';
      n.error = e.error;
      break;
    case 'next_round':
      n.failedRounds = o.failedRounds + 1;
      n.attempts = 0;
      break;
  }
  return n;
}

export interface NewOrder {
  clientId: string;
  magic: number;
  symbol: string;
  side: Side;
  volume: number;
  price?: number | null;
  deviation?: number;
  sl?: number;
  tp?: number;
  origin?: OrderRecord['origin'];
}

export function newOrder(o: NewOrder, now: number): OrderRecord {
  return {
    clientId: o.clientId,
    magic: o.magic,
    symbol: o.symbol,
    side: o.side,
    volume: o.volume,
    price: o.price ?? null,
    sentPrice: null,
    deviation: o.deviation ?? 20,
    sl: o.sl ?? 0,
    tp: o.tp ?? 0,
    origin: o.origin ?? 'api',
    state: 'intent',
    sends: 0,
    attempts: 0,
    failedRounds: 0,
    retcode: null,
    brokerOrder: null,
    deal: null,
    filledVolume: 0,
    fillPrice: null,
    error: null,
    createdAt: now,
    updatedAt: now,
  };
}
