import type { OrderRecord } from '../order-state.ts';

/**
 * Storage rows shared by the three stores. Each row carries `rev`, one
 * monotonic counter per runtime instance: whichever store holds the highest
 * rev of a row holds its newest version, which is how restores merge.
 */
export interface OrderRow {
  clientId: string;
  state: string;
  rev: number;
  updatedAt: number;
  /** JSON of the OrderRecord. */
  data: string;
}

export interface DealRecord {
  deal: number;
  clientId: string;
  order: number;
  symbol: string;
  side: 'buy' | 'sell';
  volume: number;
  price: number;
  magic: number;
  timeMsc: number;
  positionId: number;
}

export interface DealRow {
  deal: number;
  clientId: string;
  rev: number;
  data: string;
}

export interface PositionRecord {
  ticket: number;
  symbol: string;
  side: 'buy' | 'sell';
  volume: number;
  priceOpen: number;
  magic: number;
  comment: string;
  /** open: seen at the broker; closed: a closing deal was found; missing: gone at the broker without a closing deal. */
  status: 'open' | 'closed' | 'missing';
  /** Adopted from the broker (we had no record of it). */
  orphan: boolean;
  updatedAt: number;
}

export interface PositionRow {
  ticket: number;
  status: string;
  rev: number;
  data: string;
}

export interface FailedSync {
  id: string;
  /** `order`: a trade that exhausted its backoff; `clickhouse`: a batch ClickHouse did not take. */
  kind: 'order' | 'clickhouse';
  ref: string;
  payload: string;
  attempts: number;
  createdAt: number;
  lastError: string | null;
}

export function orderRow(o: OrderRecord, rev: number): OrderRow {
  return { clientId: o.clientId, state: o.state, rev, updatedAt: o.updatedAt, data: JSON.stringify(o) };
}

export function dealRow(d: DealRecord, rev: number): DealRow {
  return { deal: d.deal, clientId: d.clientId, rev, data: JSON.stringify(d) };
}

export function positionRow(p: PositionRecord, rev: number): PositionRow {
  return { ticket: p.ticket, status: p.status, rev, data: JSON.stringify(p) };
}
