import { idTag } from '../../runtime/client-id.ts';

/**
 * Several EA instances share one Redis and one broker account (seed §3.3 step 3).
 * Each owns its orders: its client ids carry its tag, its deals its magic. This pure
 * check says whether any instance placed, adopted or reconciled an order of another.
 */
export interface InstanceView {
  /** `ea-0`, ... */
  instance: string;
  magic: number;
  /** The client ids of the orders the instance holds at the end. */
  orders: string[];
  /** Client ids the instance's own events touched (order.state, reconcile.*). */
  touched: string[];
  /** Magic numbers of the positions it holds. */
  positionMagics: number[];
}

export interface IsolationResult {
  status: 'pass' | 'fail' | 'unknown';
  details: string;
  counterexamples: unknown[];
}

export function checkInstanceIsolation(views: readonly InstanceView[], deals: readonly { comment?: string; magic: number; ticket: number }[] | null): IsolationResult {
  if (views.length < 2) return { status: 'unknown', details: `${views.length} instance(s): isolation needs at least two`, counterexamples: [] };
  if (!deals) return { status: 'unknown', details: 'the broker ledger was not captured', counterexamples: [] };
  const owner = new Map(views.map((v) => [idTag(v.instance), v]));
  const ownerOf = (clientId: string) => owner.get(clientId.split('.')[0] ?? '');
  const bad: unknown[] = [];
  for (const v of views) {
    for (const id of v.orders) if (ownerOf(id) !== v) bad.push({ instance: v.instance, clientId: id, problem: "holds another instance's order" });
    for (const id of new Set(v.touched)) if (ownerOf(id) !== v) bad.push({ instance: v.instance, clientId: id, problem: "changed the state of another instance's order" });
    for (const m of v.positionMagics) if (m !== v.magic) bad.push({ instance: v.instance, magic: m, problem: "holds a position with another instance's magic" });
  }
  let judged = 0;
  for (const d of deals) {
    const v = d.comment ? ownerOf(d.comment) : undefined;
    if (!v) continue;
    judged++;
    if (d.magic !== v.magic) bad.push({ deal: d.ticket, clientId: d.comment, magic: d.magic, problem: `placed with magic ${d.magic}, not its owner ${v.instance}'s ${v.magic}` });
  }
  const idle = views.filter((v) => v.orders.length === 0).map((v) => v.instance);
  if (bad.length > 0) return { status: 'fail', details: `${bad.length} cross-instance order changes`, counterexamples: bad.slice(0, 20) };
  // Isolation holds vacuously for an instance that never traded: that decides nothing.
  if (idle.length > 0 || judged === 0) return { status: 'unknown', details: `no orders to judge for ${idle.join(', ') || 'any deal'}`, counterexamples: [] };
  return { status: 'pass', details: `${views.length} instances, ${judged} deals: every order placed, held and reconciled only by its owner`, counterexamples: [] };
}
