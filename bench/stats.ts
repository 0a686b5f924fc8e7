/** Percentile by nearest rank over a copy of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

export function summary(xs: readonly number[]): { n: number; p50: number; p95: number; p99: number; max: number; min: number; mean: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    n: xs.length,
    min: Math.min(...xs),
    p50: percentile(xs, 50),
    p95: percentile(xs, 95),
    p99: percentile(xs, 99),
    max: Math.max(...xs),
    mean,
  };
}

export function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}
