/**
 * MT5 trade-server return codes and the handling class the runtime applies to
 * each (mt5-trading.md §1.5). The class, not the code, drives the retry policy,
 * so adding a code never means touching the order engine.
 */
import { Retcode } from '../simulator/protocol/types.ts';

export type RetcodeClass = 'ok' | 'partial' | 'price' | 'backoff' | 'unknown' | 'wait' | 'fatal';

export const RETCODE = {
  ...Retcode,
  /** MetaApi-style bridge codes: sent with unknown outcome / never delivered. */
  DISCONNECTED_DURING_TRADE: -11,
  DISCONNECTED_BEFORE_TRADE: -10,
} as const;

const CLASS: ReadonlyMap<number, RetcodeClass> = new Map<number, RetcodeClass>([
  [RETCODE.PLACED, 'ok'],
  [RETCODE.DONE, 'ok'],
  [RETCODE.NO_CHANGES, 'ok'],
  [RETCODE.POSITION_CLOSED, 'ok'],
  [RETCODE.CLOSE_ORDER_EXIST, 'ok'],
  [RETCODE.DONE_PARTIAL, 'partial'],
  [RETCODE.REQUOTE, 'price'],
  [RETCODE.PRICE_CHANGED, 'price'],
  [RETCODE.PRICE_OFF, 'backoff'],
  [RETCODE.ERROR, 'backoff'],
  [RETCODE.TOO_MANY_REQUESTS, 'backoff'],
  [RETCODE.LOCKED, 'backoff'],
  [RETCODE.DISCONNECTED_BEFORE_TRADE, 'backoff'],
  [RETCODE.MARKET_CLOSED, 'wait'],
  [RETCODE.FROZEN, 'wait'],
  // 10031 "no connection with the trade server" may follow a request that left: reconcile first.
  [RETCODE.CONNECTION, 'unknown'],
  [RETCODE.TIMEOUT, 'unknown'],
  [RETCODE.DISCONNECTED_DURING_TRADE, 'unknown'],
]);

/** Unlisted codes are fatal: an unknown answer must reach a person, not be retried blindly. */
export function classifyRetcode(code: number): RetcodeClass {
  return CLASS.get(code) ?? 'fatal';
}

/** Codes the user must hear about at once (seed §3.1 step 3: invalid price or volume). */
export function isUserFacingFatal(code: number): boolean {
  return classifyRetcode(code) === 'fatal';
}
