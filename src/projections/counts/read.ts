/**
 * Reads of the counts projection. Times in and out are unix milliseconds, UTC; values satoshi.
 *
 *   minuteBuckets   count and value of n consecutive minutes   1 round trip, O(n)
 *   hourBuckets     count and value of n consecutive hours     1 round trip, O(n)
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import { hourOf, minuteOf, toSec } from "../../domain/window.ts";
import { countsHourKey, countsMinuteKey } from "./keys.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** Transactions and their total value in one minute or one hour. */
export interface Bucket {
  /** Start of the minute or hour, unix ms. */
  start: number;
  count: number;
  /** Sum of the outputs, satoshi. */
  value: number;
}

async function buckets(redis: Redis, keys: string[], starts: number[]): Promise<Bucket[]> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hmget(key, "count", "value");
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([err, reply], i) => {
    if (err) throw err;
    const [count, value] = reply as (string | null)[];
    return { start: (starts[i] as number) * 1000, count: Number(count ?? 0), value: Number(value ?? 0) };
  });
}

/** `n` consecutive minutes from the minute holding `fromMs`, oldest first; empty minutes are zeros. */
export function minuteBuckets(redis: Redis, config: Prefixed, fromMs: number, n: number): Promise<Bucket[]> {
  const first = minuteOf(toSec(fromMs));
  const starts = Array.from({ length: Math.max(0, n) }, (_, i) => first + 60 * i);
  return buckets(
    redis,
    starts.map((m) => countsMinuteKey(config, m)),
    starts,
  );
}

/** `n` consecutive hours from the hour holding `fromMs`, oldest first; empty hours are zeros. */
export function hourBuckets(redis: Redis, config: Prefixed, fromMs: number, n: number): Promise<Bucket[]> {
  const first = hourOf(toSec(fromMs));
  const starts = Array.from({ length: Math.max(0, n) }, (_, i) => first + 3600 * i);
  return buckets(
    redis,
    starts.map((h) => countsHourKey(config, h)),
    starts,
  );
}
