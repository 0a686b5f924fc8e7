import type { RuntimeEvent } from '../../core/events.ts';
import type { OrderIntent, TickRecord } from './schema.ts';

type EventLike = Pick<RuntimeEvent, 'ts' | 'type' | 'instance' | 'data'>;

/**
 * Intents the runtime accepted, from its `order.state` events: an order counts
 * as accepted once it reached `persisted` (it passed local validation and was
 * stored), which is the point from which the runtime owes it an outcome.
 */
export function intentsFromEvents(events: readonly EventLike[]): OrderIntent[] {
  const seen = new Map<string, OrderIntent>();
  for (const e of events) {
    if (e.type !== 'order.state' || e.data?.['to'] !== 'persisted') continue;
    const clientId = e.data['clientId'];
    if (typeof clientId !== 'string' || seen.has(clientId)) continue;
    const intent: OrderIntent = { clientId, acceptedAt: e.ts };
    if (e.instance !== undefined) intent.instance = e.instance;
    seen.set(clientId, intent);
  }
  return [...seen.values()];
}

/** The last state of each order according to its `order.state` events. */
export function finalStatesFromEvents(events: readonly EventLike[]): { clientId: string; state: string; instance?: string }[] {
  const last = new Map<string, { clientId: string; state: string; instance?: string }>();
  for (const e of events) {
    if (e.type !== 'order.state') continue;
    const clientId = e.data?.['clientId'];
    const to = e.data?.['to'];
    if (typeof clientId !== 'string' || typeof to !== 'string') continue;
    const o: { clientId: string; state: string; instance?: string } = { clientId, state: to };
    if (e.instance !== undefined) o.instance = e.instance;
    last.set(clientId, o);
  }
  return [...last.values()];
}

/** A tick as the feed records it or the consumer receives it (simulator/protocol, runtime/stream/codec). */
export interface TickLike {
  stream?: string;
  symbol: string;
  epoch?: number;
  seq?: number;
  time_msc: number;
}

/**
 * TickRecords for a history from the feed's `emitted()` or the consumer's
 * received ticks. Ticks without a sequence number cannot be identified and are
 * left out (counted in `unidentified`).
 */
export function toTickRecords(ticks: readonly TickLike[]): { records: TickRecord[]; unidentified: number } {
  const records: TickRecord[] = [];
  let unidentified = 0;
  for (const t of ticks) {
    if (t.seq === undefined || t.epoch === undefined) unidentified++;
    else records.push({ stream: t.stream ?? t.symbol, epoch: t.epoch, seq: t.seq, timeMs: t.time_msc });
  }
  return { records, unidentified };
}
