/**
 * Fee rates, the one place: a transaction's rate, its band, and a percentile of a minute's bands.
 *
 * - The rate is the fee over the virtual size (`vsize`: ceil(weight / 4), or the size when the
 *   frame had no weight), kept as an integer in sat per 1,000 vbytes (sat/kvB), rounded down,
 *   so minimum and maximum are exact; the API shows it in sat/vB (rate / 1000).
 * - The bands are mempool.space's: each named by its lower bound in sat/vB; a rate falls in the
 *   highest band whose lower bound it reaches, and a rate below 1 sat/vB (zero fee included) in the
 *   lowest band, 1.
 * - A percentile p of a minute is the lower bound of the band in which the cumulative count,
 *   lowest band first, reaches p% of the minute's count (ceil(p × count / 100), at least 1).
 */
import { type Transaction, vsize } from "../../domain/transaction.ts";

/** mempool.space's fee bands: lower bounds, sat/vB. The last is "2000 and above". */
export const FEE_BANDS = [
  1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200, 250, 300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
] as const;

/** The percentiles the API shows. */
export const PERCENTILES = [10, 50, 90] as const;

/** Rates at or above this (sat/kvB) cannot be kept exactly (a double): the group refuses them. */
export const MAX_RATE_KVB = Number.MAX_SAFE_INTEGER;

/** fee * 1000 / vsize, rounded down, computed exactly. */
export const rateKvb = (fee: number, vbytes: number): number => Number((BigInt(fee) * 1000n) / BigInt(vbytes));

/** The band (its lower bound, sat/vB) of a rate in sat/kvB. */
export function bandOf(rate: number): number {
  let band: number = FEE_BANDS[0];
  for (const lower of FEE_BANDS) if (rate >= lower * 1000) band = lower;
  return band;
}

/** What the group takes of a transaction: null fee when it is unknown. */
export interface FeeFigures {
  fee: number | null;
  vsize: number;
  rate: number | null;
  band: number | null;
}

export function feeFigures(tx: Pick<Transaction, "fee" | "size" | "weight">): FeeFigures {
  const vbytes = vsize(tx);
  if (tx.fee === null || vbytes <= 0) return { fee: null, vsize: vbytes, rate: null, band: null };
  const rate = rateKvb(tx.fee, vbytes);
  return { fee: tx.fee, vsize: vbytes, rate, band: bandOf(rate) };
}

/** Why the group refuses a transaction it cannot count, or null. A fee it does not know is counted as unknown, not refused. */
export function refusal(tx: Pick<Transaction, "fee" | "size" | "weight">): string | null {
  if (tx.fee === null) return null;
  if (tx.fee < 0) return `negative fee: the inputs are worth ${-tx.fee} sat less than the outputs`;
  const vbytes = vsize(tx);
  if (vbytes <= 0) return "virtual size 0: no fee rate";
  if (rateKvb(tx.fee, vbytes) > MAX_RATE_KVB) return `fee rate above ${MAX_RATE_KVB} sat/kvB`;
  return null;
}

/** Percentile `p` of a minute: the lower bound of the band where the cumulative count reaches p%; null without transactions. */
export function percentile(bands: ReadonlyMap<number, number>, p: number): number | null {
  let count = 0;
  for (const n of bands.values()) count += n;
  if (count === 0) return null;
  const target = Math.max(1, Math.ceil((p * count) / 100));
  let cumulative = 0;
  for (const lower of [...bands.keys()].sort((a, b) => a - b)) {
    cumulative += bands.get(lower) ?? 0;
    if (cumulative >= target) return lower;
  }
  return null;
}
