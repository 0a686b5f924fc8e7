import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { Link } from '../../../faultproxy/link.ts';
import type { ToxicSpec, ToxicType } from '../../../faultproxy/toxics.ts';

/** A link between two in-memory streams: the chain logic without sockets, on a ManualClock. */
function harness(clock: ManualClock) {
  const source = new PassThrough();
  const dest = new PassThrough();
  const received: Buffer[] = [];
  dest.on('data', (d: Buffer) => received.push(d));
  const rng = createRandom(42);
  const link = new Link('downstream', source as unknown as Socket, dest as unknown as Socket, {
    clock,
    randomFor: (name) => rng.fork(name),
    reset: () => {},
  }, []);
  return { source, dest, received, link };
}

const spec = (name: string, type: ToxicType, attributes: Record<string, number>, toxicity = 1): ToxicSpec => ({
  name,
  type,
  stream: 'downstream',
  direction: 'downstream',
  toxicity,
  attributes,
});

const tick = () => new Promise<void>((r) => setImmediate(r));

type Op =
  | { kind: 'write'; size: number }
  | { kind: 'add'; type: 'latency' | 'slicer' | 'bandwidth' | 'noop'; value: number; toxicity: number }
  | { kind: 'update'; value: number }
  | { kind: 'remove' }
  | { kind: 'advance'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), size: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({
    kind: fc.constant('add' as const),
    type: fc.constantFrom('latency' as const, 'slicer' as const, 'bandwidth' as const, 'noop' as const),
    value: fc.integer({ min: 0, max: 200 }),
    toxicity: fc.constantFrom(0, 0.5, 1),
  }),
  fc.record({ kind: fc.constant('update' as const), value: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ kind: fc.constant('remove' as const) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
);

function attrs(type: 'latency' | 'slicer' | 'bandwidth' | 'noop', v: number): Record<string, number> {
  if (type === 'latency') return { latency: v, jitter: v / 2 };
  if (type === 'slicer') return { average_size: v + 1, size_variation: v, delay: v * 10 };
  if (type === 'bandwidth') return { rate: v }; // rate 0 holds until removed
  return {};
}

describe('Link', () => {
  it('never loses, duplicates or reorders bytes while toxics are added, updated and removed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
        const clock = new ManualClock(0);
        const { source, received, link } = harness(clock);
        const live: Array<{ name: string; type: 'latency' | 'slicer' | 'bandwidth' | 'noop' }> = [];
        const sent: Buffer[] = [];
        let n = 0;
        let seq = 0;
        for (const op of ops) {
          if (op.kind === 'write') {
            const b = Buffer.alloc(op.size);
            for (let i = 0; i < b.length; i++) b[i] = (seq++ * 31) & 0xff;
            sent.push(b);
            source.write(b);
            await tick();
          } else if (op.kind === 'add') {
            const name = `t${n++}`;
            live.push({ name, type: op.type });
            link.add(spec(name, op.type, attrs(op.type, op.value), op.toxicity));
          } else if (op.kind === 'update' && live.length > 0) {
            const t = live[op.value % live.length]!;
            link.update(spec(t.name, t.type, attrs(t.type, op.value)));
          } else if (op.kind === 'remove' && live.length > 0) {
            const [t] = live.splice(0, 1);
            link.remove(t!.name);
          } else if (op.kind === 'advance') {
            await clock.advance(op.ms);
          }
        }
        for (const t of live.splice(0)) link.remove(t.name);
        await clock.advance(10_000);
        await tick();
        expect(Buffer.concat(received).equals(Buffer.concat(sent))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('removing a timeout toxic closes the link even where toxicity made it a no-op', async () => {
    const clock = new ManualClock(0);
    const { dest, link } = harness(clock);
    let finished = false;
    dest.on('finish', () => (finished = true));
    link.add(spec('t', 'timeout', { timeout: 0 }, 0));
    link.remove('t');
    await tick();
    expect(finished).toBe(true);
  });

  it('a close travels behind the data held in a latency stage', async () => {
    const clock = new ManualClock(0);
    const { source, dest, received, link } = harness(clock);
    let ended = false;
    dest.on('end', () => (ended = true));
    link.add(spec('lat', 'latency', { latency: 100, jitter: 0 }));
    source.write(Buffer.from('abc'));
    source.end();
    await tick();
    await clock.advance(50);
    expect(received.length).toBe(0);
    await clock.advance(60);
    await tick();
    expect(Buffer.concat(received).toString()).toBe('abc');
    expect(ended).toBe(true);
  });
});
