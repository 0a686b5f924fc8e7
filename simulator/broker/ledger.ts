import type { MqlTradeRequest, QueryFilter, TradeDeal, TradeOrder, TradePosition } from '../protocol/types.ts';

/** How the client was answered (or not) for one order_send. */
export type RequestOutcome = 'pending' | 'answered' | 'timeout_retcode' | 'dropped';

export interface LedgerRequest {
  request_id: number;
  time_msc: number;
  op: 'order_send';
  request: MqlTradeRequest;
  /** Retcode of the execution step; null when it never executed (timeout before execution). */
  retcode: number | null;
  /** Retcode the client was sent; null when the reply was dropped or is still pending. */
  answered_retcode: number | null;
  outcome: RequestOutcome;
  order: number;
  deal: number;
}

/**
 * The broker's authoritative record. Tickets, deals and positions live here
 * and survive a broker restart; checkers read it through the admin API.
 */
export class Ledger {
  readonly requests: LedgerRequest[] = [];
  readonly orders = new Map<number, TradeOrder>();
  readonly deals: TradeDeal[] = [];
  readonly positions = new Map<number, TradePosition>();
  /** Tickets of positions that existed and are now closed (for 10036). */
  readonly closedPositions = new Set<number>();
  nextRequestId = 1;
  nextOrder = 1;
  nextDeal = 1;

  request(id: number): LedgerRequest | undefined {
    // Request ids are dense from 1, so the index is the id minus one.
    const r = this.requests[id - 1];
    return r && r.request_id === id ? r : undefined;
  }

  snapshot() {
    return {
      requests: this.requests,
      orders: [...this.orders.values()],
      deals: this.deals,
      positions: [...this.positions.values()],
    };
  }

  summary() {
    const byComment: Record<string, number> = {};
    for (const d of this.deals) byComment[d.comment] = (byComment[d.comment] ?? 0) + 1;
    return { requests: this.requests.length, orders: this.orders.size, deals: this.deals.length, positions: this.positions.size, deals_by_comment: byComment };
  }
}

interface Filterable {
  symbol: string;
  magic: number;
  comment: string;
  ticket: number;
}

export function matches(x: Filterable & { position_id?: number; identifier?: number }, f: QueryFilter, timeMsc?: number): boolean {
  if (f.symbol !== undefined && x.symbol !== f.symbol) return false;
  if (f.magic !== undefined && x.magic !== f.magic) return false;
  if (f.comment !== undefined && x.comment !== f.comment) return false;
  if (f.ticket !== undefined && x.ticket !== f.ticket) return false;
  if (f.position !== undefined && (x.position_id ?? x.identifier) !== f.position) return false;
  if (timeMsc !== undefined) {
    if (f.from_msc !== undefined && timeMsc < f.from_msc) return false;
    if (f.to_msc !== undefined && timeMsc >= f.to_msc) return false;
  }
  return true;
}
