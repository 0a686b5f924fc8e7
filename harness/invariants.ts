import type { Testbed } from './testbed/testbed.ts';

/**
 * End-of-scenario checks of the seed's §1 objectives against the broker's
 * ledger (the truth) and what each runtime believes. A check that cannot decide
 * (a runtime unreachable, orders still in flight) answers "unknown", never "pass".
 */
export interface Check {
  name: string;
  status: 'pass' | 'fail' | 'unknown';
  details: string;
}

interface Order {
  clientId: string;
  magic: number;
  state: string;
  deal: number | null;
  updatedAt: number;
}
interface Deal {
  ticket: number;
  magic: number;
  comment: string;
  entry: number;
}
interface Position {
  ticket: number;
  magic: number;
  volume: number;
}

const TERMINAL = new Set(['filled', 'partially_filled', 'rejected', 'reconciled', 'failed']);
const EXECUTED = new Set(['filled', 'partially_filled', 'reconciled']);

export interface Snapshot {
  deals: Deal[];
  positions: Position[];
  runtimes: { instance: string; magic: number; orders: Order[]; positions: { ticket?: number }[] }[] | undefined;
}

export async function snapshot(bed: Testbed): Promise<Snapshot> {
  // Runtimes first, ledger second: a fill a runtime reports has already happened at
  // the broker, so reading in this order never shows a fill without its deal.
  let runtimes: Snapshot['runtimes'];
  try {
    const n = bed.supervisor?.status().length ?? 0;
    runtimes = [];
    for (let i = 0; i < n; i++) {
      const st = await bed.getJson<{ instance: string; magic: number; orders: Order[]; positions: { ticket?: number }[] }>(`${bed.runtimeUrl(i)}/state?orders=1`);
      runtimes.push(st);
    }
  } catch {
    runtimes = undefined;
  }
  const deals = await bed.getJson<Deal[]>(bed.brokerAdmin('/ledger/deals'));
  const positions = await bed.getJson<Position[]>(bed.brokerAdmin('/ledger/positions'));
  return { deals, positions, runtimes };
}

/** No client order id has more than one deal at the broker. */
export function checkNoDuplicates(s: Snapshot): Check {
  const byComment = new Map<string, number>();
  // One order makes one deal whatever its entry (in, out, or in/out on a netting account).
  for (const d of s.deals) if (d.comment) byComment.set(d.comment, (byComment.get(d.comment) ?? 0) + 1);
  const dups = [...byComment].filter(([, n]) => n > 1);
  return dups.length === 0
    ? { name: 'no duplicated orders', status: 'pass', details: `${byComment.size} client orders, each with at most one deal` }
    : { name: 'no duplicated orders', status: 'fail', details: `duplicated: ${dups.slice(0, 5).map(([c, n]) => `${c} x${n}`).join(', ')}` };
}

/**
 * Every order the runtime accepted reached a terminal state that agrees with the
 * broker: executed orders have a deal, refused ones have none. Orders updated
 * within `inFlightMs` are still in flight and make the answer "unknown".
 */
export function checkNoLostOrders(s: Snapshot, now: number, inFlightMs: number): Check {
  const name = 'no lost orders';
  if (!s.runtimes) return { name, status: 'unknown', details: 'a runtime did not answer /state' };
  const dealComments = new Set(s.deals.map((d) => d.comment));
  const lost: string[] = [];
  const phantom: string[] = [];
  let inFlight = 0;
  let total = 0;
  for (const rt of s.runtimes) {
    for (const o of rt.orders) {
      total++;
      if (!TERMINAL.has(o.state)) {
        if (now - o.updatedAt < inFlightMs) inFlight++;
        else lost.push(`${o.clientId} stuck in ${o.state}`);
        continue;
      }
      if (EXECUTED.has(o.state) && !dealComments.has(o.clientId)) lost.push(`${o.clientId} ${o.state} but no deal at the broker`);
      if (!EXECUTED.has(o.state) && dealComments.has(o.clientId)) phantom.push(`${o.clientId} ${o.state} but the broker executed it`);
    }
  }
  if (lost.length || phantom.length) return { name, status: 'fail', details: [...lost, ...phantom].slice(0, 8).join('; ') };
  if (inFlight > 0) return { name, status: 'unknown', details: `${inFlight} of ${total} orders still in flight` };
  return { name, status: 'pass', details: `${total} orders, all terminal and agreeing with the broker` };
}

/** Every broker position with one of our magics is known to its runtime. */
export function checkNoOrphans(s: Snapshot): Check {
  const name = 'no orphaned trades';
  if (!s.runtimes) return { name, status: 'unknown', details: 'a runtime did not answer /state' };
  const orphans: number[] = [];
  for (const rt of s.runtimes) {
    const known = new Set(rt.positions.map((p) => p.ticket).filter((t): t is number => t !== undefined));
    for (const p of s.positions) if (p.magic === rt.magic && !known.has(p.ticket)) orphans.push(p.ticket);
  }
  return orphans.length === 0
    ? { name, status: 'pass', details: `${s.positions.length} broker positions, all known to their runtime` }
    : { name, status: 'fail', details: `broker positions unknown to the runtime: ${orphans.slice(0, 8).join(', ')}` };
}
