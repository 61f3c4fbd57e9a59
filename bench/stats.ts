/**
 * The arithmetic of the live benches (freshness, stream, soak), pure so that a test can check it:
 * percentiles of latencies and the least-squares slope of memory samples.
 */

/**
 * The `p` quantile (0..1) of `values` by nearest rank, as the other latency figures take it
 * (e2e.bench.ts): the element at floor(p × n) of the sorted values, the last for p = 1.
 * Infinity counts as a value (a sample that never arrived), so a p99 over more than 1%
 * of such samples is Infinity. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(p * sorted.length)))] as number;
}

export interface Point {
  x: number;
  y: number;
}

/**
 * The least-squares slope of y over x (y = a + b·x: b = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)²); NaN with
 * fewer than two distinct x.
 */
export function slope(points: readonly Point[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

/**
 * The standard error of the least-squares slope: √(Σ residual² / (n − 2) / Σ(x − x̄)²), how far
 * the slope could be off if the points scattered independently around a line. Memory sampled every
 * few seconds does not (a garbage collection's sawtooth spans several samples), so it understates
 * the error; it still tells a slope within its noise from one well above it. NaN with fewer than
 * three points or one x.
 */
export function slopeStderr(points: readonly Point[]): number {
  const n = points.length;
  const b = slope(points);
  if (n < 3 || Number.isNaN(b)) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const a = my - b * mx;
  const residuals = points.reduce((s, p) => s + (p.y - (a + b * p.x)) ** 2, 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return Math.sqrt(residuals / (n - 2) / sxx);
}

/** The points whose x is in the later half of the span [first x, last x]. */
export function secondHalf<T extends Point>(points: readonly T[]): T[] {
  if (!points.length) return [];
  const first = points[0] as T;
  const last = points[points.length - 1] as T;
  const middle = (first.x + last.x) / 2;
  return points.filter((p) => p.x >= middle);
}

/** Rounded to `digits` decimals (for figures and notes). */
export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
