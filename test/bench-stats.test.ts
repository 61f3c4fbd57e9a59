/**
 * The arithmetic of the live benches (bench/stats.ts): the nearest-rank percentile their latency
 * figures take, and the least-squares slope the soak bench reports as MB an hour. No timings:
 * fixed numbers in, exact numbers out.
 */
import { describe, expect, test } from "bun:test";
import { percentile, secondHalf, slope, slopeStderr } from "../bench/stats.ts";

describe("percentile (nearest rank)", () => {
  test("takes the element at floor(p × n) of the sorted values, whatever their order", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1
    expect(percentile(values, 0.5)).toBe(51);
    expect(percentile(values, 0.99)).toBe(100);
    expect(percentile(values, 1)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  test("a sample that never arrived (Infinity) is the p99 once more than 1% are missing, not before", () => {
    const arrived = Array.from({ length: 199 }, (_, i) => i + 1);
    expect(percentile([...arrived, Number.POSITIVE_INFINITY], 0.99)).toBe(199);
    expect(percentile([...arrived.slice(2), Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY], 0.99)).toBe(Number.POSITIVE_INFINITY);
  });

  test("leaves its input as it was", () => {
    const values = [3, 1, 2];
    percentile(values, 0.5);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe("slope (least squares)", () => {
  test("is exact on a line, whatever its offset and spacing", () => {
    expect(slope([0, 5, 10, 30].map((x) => ({ x, y: 120 + 0.25 * x })))).toBeCloseTo(0.25, 12);
    expect(slope([-60, -55, 0].map((x) => ({ x, y: 7 - 2 * x })))).toBeCloseTo(-2, 12);
  });

  test("fits noise around a line by least squares, not by its ends", () => {
    // Flat, then a jump in the last sample: the ends alone would say 4 / 4 = 1, the fit says 8 / 10.
    const points = [0, 0, 0, 0, 4].map((y, x) => ({ x, y }));
    expect(slope(points)).toBeCloseTo(0.8, 12);
    // A sawtooth (a garbage collection every 4 samples) on a flat line: no growth.
    const saw = Array.from({ length: 40 }, (_, x) => ({ x, y: 100 + (x % 4) - 1.5 }));
    expect(Math.abs(slope(saw))).toBeLessThan(0.02);
  });

  test("its standard error: 0 on a line, the textbook figure around one, NaN below three points", () => {
    expect(slopeStderr([0, 5, 10, 30].map((x) => ({ x, y: 120 + 0.25 * x })))).toBeCloseTo(0, 12);
    // Residuals of the fit y = -0.8 + 0.8x: 0.8, 0, -0.8, -1.6, 1.6; Σ² = 6.4; √(6.4 / 3 / 10).
    expect(slopeStderr([0, 0, 0, 0, 4].map((y, x) => ({ x, y })))).toBeCloseTo(Math.sqrt(6.4 / 3 / 10), 12);
    expect(
      slopeStderr([
        { x: 0, y: 1 },
        { x: 1, y: 5 },
      ]),
    ).toBeNaN();
  });

  test("NaN for fewer than two distinct x", () => {
    expect(slope([])).toBeNaN();
    expect(slope([{ x: 1, y: 2 }])).toBeNaN();
    expect(
      slope([
        { x: 1, y: 2 },
        { x: 1, y: 3 },
      ]),
    ).toBeNaN();
  });

  test("secondHalf keeps the points of the later half of the span", () => {
    const points = [0, 10, 20, 30, 40].map((x) => ({ x, y: x }));
    expect(secondHalf(points).map((p) => p.x)).toEqual([20, 30, 40]);
    expect(secondHalf([])).toEqual([]);
  });
});
