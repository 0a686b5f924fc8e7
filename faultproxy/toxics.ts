import { decodeStruct, formatFloat32, type RawValue, type StructField } from './gojson.ts';

export const TOXIC_TYPES = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'noop'] as const;
export type ToxicType = (typeof TOXIC_TYPES)[number];
export type StreamDirection = 'upstream' | 'downstream';

/** Every attribute of each type, in the order Toxiproxy serialises them (all zero-filled). */
export const TOXIC_ATTRIBUTES: Record<ToxicType, readonly string[]> = {
  latency: ['latency', 'jitter'],
  bandwidth: ['rate'],
  slow_close: ['delay'],
  timeout: ['timeout'],
  reset_peer: ['timeout'],
  slicer: ['average_size', 'size_variation', 'delay'],
  limit_data: ['bytes'],
  noop: [],
};

/** Go struct names, for `cannot unmarshal ... into Go struct field X.y` messages. */
const GO_STRUCT: Record<ToxicType, string> = {
  latency: 'toxics.LatencyToxic',
  bandwidth: 'toxics.BandwidthToxic',
  slow_close: 'toxics.SlowCloserToxic',
  timeout: 'toxics.TimeoutToxic',
  reset_peer: 'toxics.ResetToxic',
  slicer: 'toxics.SlicerToxic',
  limit_data: 'toxics.LimitDataToxic',
  noop: 'toxics.NoopToxic',
};

export function isToxicType(t: string): t is ToxicType {
  return (TOXIC_TYPES as readonly string[]).includes(t);
}

export function parseStream(s: string): StreamDirection | undefined {
  const l = s.toLowerCase();
  return l === 'upstream' || l === 'downstream' ? l : undefined;
}

/** Decodes `attributes` into the type's fields, starting from `base` (merge on update). */
export function decodeAttributes(type: ToxicType, raw: RawValue | undefined, base?: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of TOXIC_ATTRIBUTES[type]) out[k] = base?.[k] ?? 0;
  if (raw === undefined) return out;
  const fields: StructField[] = TOXIC_ATTRIBUTES[type].map((json) => ({ json, kind: 'int64' }));
  const got = decodeStruct(raw, GO_STRUCT[type], fields) as Record<string, number>;
  for (const k of TOXIC_ATTRIBUTES[type]) if (got[k] !== undefined) out[k] = got[k];
  return out;
}

/** A toxic as the API knows it. `stream` echoes the client's spelling; `direction` is parsed. */
export interface ToxicSpec {
  name: string;
  type: ToxicType;
  stream: string;
  direction: StreamDirection;
  toxicity: number;
  attributes: Record<string, number>;
}

/** Toxicity is a Go float32 and prints in shortest form (`0.1`, not `0.10000000149011612`). */
export function toxicityValue(v: number): number {
  return Number(formatFloat32(Math.fround(v)));
}

export function toxicJson(t: ToxicSpec): Record<string, unknown> {
  return { attributes: { ...t.attributes }, name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity };
}
