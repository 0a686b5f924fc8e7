import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyEvent, canApply, isTerminal, newOrder, IllegalTransitionError, type OrderEvent, type OrderRecord } from '../../../runtime/order-state.ts';
import { ClientIdGenerator, COMMENT_MAX, isClientId } from '../../../runtime/client-id.ts';
import { classifyRetcode, RETCODE } from '../../../runtime/retcodes.ts';

const base = () => newOrder({ clientId: 'ea.x.1', magic: 7, symbol: 'EURUSD', side: 'buy', volume: 0.1 }, 0);

const eventArb: fc.Arbitrary<OrderEvent> = fc.oneof(
  fc.constant<OrderEvent>({ type: 'persist' }),
  fc.constant<OrderEvent>({ type: 'invalid', error: 'bad' }),
  fc.constant<OrderEvent>({ type: 'send', price: 1.1 }),
  fc.constant<OrderEvent>({ type: 'filled', retcode: 10009, order: 1, deal: 2, volume: 0.1, price: 1.1 }),
  fc.constant<OrderEvent>({ type: 'partial', retcode: 10010, order: 1, deal: 2, volume: 0.05, price: 1.1 }),
  fc.constant<OrderEvent>({ type: 'refused', retcode: 10024 }),
  fc.constant<OrderEvent>({ type: 'fatal', retcode: 10014, error: 'volume' }),
  fc.constant<OrderEvent>({ type: 'lost', retcode: 10012, error: 'timeout' }),
  fc.constant<OrderEvent>({ type: 'recover' }),
  fc.constant<OrderEvent>({ type: 'found', order: 1, deal: 2, volume: 0.1, price: 1.1 }),
  fc.constant<OrderEvent>({ type: 'absent' }),
  fc.constant<OrderEvent>({ type: 'give_up', error: 'exhausted' }),
  fc.constant<OrderEvent>({ type: 'next_round' }),
);

describe('order state machine', () => {
  it('walks the happy path intent → persisted → submitted → filled', () => {
    let o = base();
    o = applyEvent(o, { type: 'persist' }, 1);
    o = applyEvent(o, { type: 'send', price: 1.2 }, 2);
    o = applyEvent(o, { type: 'filled', retcode: 10009, order: 5, deal: 6, volume: 0.1, price: 1.2 }, 3);
    expect(o.state).toBe('filled');
    expect(o.sends).toBe(1);
    expect(isTerminal(o.state)).toBe(true);
  });

  it('refuses to send an order from unknown: only broker records can release it', () => {
    let o = applyEvent(applyEvent(base(), { type: 'persist' }, 1), { type: 'send', price: 1 }, 2);
    o = applyEvent(o, { type: 'lost', retcode: 10012, error: 'timeout' }, 3);
    expect(o.state).toBe('unknown');
    expect(() => applyEvent(o, { type: 'send', price: 1 }, 4)).toThrow(IllegalTransitionError);
    expect(applyEvent(o, { type: 'found', order: 1, deal: 2, volume: 0.1, price: 1 }, 5).state).toBe('reconciled');
    expect(applyEvent(o, { type: 'absent' }, 5).state).toBe('retrying');
  });

  it('property: every resend is preceded by an explicit refusal or an absence proof; terminal states are final', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        let o: OrderRecord = base();
        let licences = 0; // resends allowed by refusals / absence proofs
        let t = 1;
        for (const e of events) {
          if (!canApply(o.state, e.type)) {
            expect(() => applyEvent(o, e, t)).toThrow(IllegalTransitionError);
            continue;
          }
          const wasTerminal = isTerminal(o.state);
          expect(wasTerminal).toBe(false);
          if (e.type === 'refused' || e.type === 'absent') licences++;
          const prevSends = o.sends;
          o = applyEvent(o, e, t++);
          if (o.sends > prevSends && prevSends > 0) {
            expect(licences).toBeGreaterThan(0);
            licences--;
          }
        }
        expect(o.sends).toBeLessThanOrEqual(1 + events.filter((e) => e.type === 'refused' || e.type === 'absent').length);
      }),
    );
  });
});

describe('client order ids', () => {
  it('fit the 31-char MT5 comment and are unique within and across process starts', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 1, max: 300 }), (tag, start, n) => {
        const a = new ClientIdGenerator(tag, start);
        const b = new ClientIdGenerator(tag, start + 1);
        const ids = new Set<string>();
        for (let i = 0; i < n; i++) {
          for (const g of [a, b]) {
            const id = g.next();
            expect(id.length).toBeLessThanOrEqual(COMMENT_MAX);
            expect(isClientId(id)).toBe(true);
            expect(ids.has(id)).toBe(false);
            ids.add(id);
          }
        }
      }),
    );
  });
});

describe('retcode classes', () => {
  it('maps the handling classes of mt5-trading.md §1.5', () => {
    expect(classifyRetcode(RETCODE.DONE)).toBe('ok');
    expect(classifyRetcode(RETCODE.DONE_PARTIAL)).toBe('partial');
    expect(classifyRetcode(RETCODE.REQUOTE)).toBe('price');
    expect(classifyRetcode(RETCODE.PRICE_CHANGED)).toBe('price');
    expect(classifyRetcode(RETCODE.TOO_MANY_REQUESTS)).toBe('backoff');
    expect(classifyRetcode(RETCODE.TIMEOUT)).toBe('unknown');
    expect(classifyRetcode(RETCODE.CONNECTION)).toBe('unknown');
    expect(classifyRetcode(RETCODE.MARKET_CLOSED)).toBe('wait');
    for (const c of [RETCODE.INVALID_VOLUME, RETCODE.INVALID_PRICE, RETCODE.INVALID_STOPS, RETCODE.NO_MONEY, 99999]) expect(classifyRetcode(c)).toBe('fatal');
  });
});
