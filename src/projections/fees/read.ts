/**
 * Reads of the fee projection: n consecutive minutes, one HGETALL each in one round trip, O(n).
 * Rates are sat/kvB as stored; bands by their lower bound, sat/vB.
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import { minuteOf, toSec } from "../../domain/window.ts";
import { feeMinuteKey } from "./keys.ts";

/** One minute's fee figures, as Redis holds them. */
export interface FeeMinute {
  /** Start of the minute, unix ms. */
  start: number;
  count: number;
  unknownFee: number;
  /** Satoshi. */
  fee: number;
  /** Vbytes. */
  vsize: number;
  /** sat/kvB; null without transactions. */
  minRate: number | null;
  maxRate: number | null;
  /** Band lower bound (sat/vB) -> transactions. */
  bands: Map<number, number>;
}

const BAND = /^band:(\d+)$/;

/** `n` consecutive minutes from the minute holding `fromMs`, oldest first; empty minutes are zeros. */
export async function feeMinutes(redis: Redis, config: Pick<Config, "REDIS_PREFIX">, fromMs: number, n: number): Promise<FeeMinute[]> {
  const first = minuteOf(toSec(fromMs));
  const starts = Array.from({ length: Math.max(0, n) }, (_, i) => first + 60 * i);
  const pipeline = redis.pipeline();
  for (const m of starts) pipeline.hgetall(feeMinuteKey(config, m));
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([err, reply], i) => {
    if (err) throw err;
    const h = (reply ?? {}) as Record<string, string>;
    const bands = new Map<number, number>();
    for (const [field, value] of Object.entries(h)) {
      const band = BAND.exec(field);
      if (band) bands.set(Number(band[1]), Number(value));
    }
    const rate = (v: string | undefined) => (v === undefined ? null : Number(v));
    return {
      start: (starts[i] as number) * 1000,
      count: Number(h.count ?? 0),
      unknownFee: Number(h.unknown_fee ?? 0),
      fee: Number(h.fee ?? 0),
      vsize: Number(h.vsize ?? 0),
      minRate: rate(h.min_rate),
      maxRate: rate(h.max_rate),
      bands,
    };
  });
}
