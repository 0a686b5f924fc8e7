import type { RuntimeEvent } from '../../core/events.ts';
import type { OrderIntent } from './schema.ts';

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
