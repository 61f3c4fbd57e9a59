/**
 * Reads of the transactions projection.
 *
 *   latestTransactions   newest N stored transactions by time     2 round trips, O(log T + N)
 *   transactionByHash    one stored transaction                   1 GET
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import type { TransactionView } from "../../domain/transaction.ts";
import { toSec, windowStart } from "../../domain/window.ts";
import { txBodyKey, txByTimeKey } from "./keys.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/**
 * The newest `limit` stored transactions by event time, newest first (equal times in reverse
 * hash order, as the sorted set reads backwards). With `nowMs`, transactions already before the
 * window start are left out even before the group's timer trims them.
 */
export async function latestTransactions(redis: Redis, config: Prefixed, limit: number, nowMs?: number): Promise<TransactionView[]> {
  if (limit <= 0) return [];
  const from = nowMs === undefined ? "-inf" : windowStart(toSec(nowMs));
  const hashes = await redis.zrevrangebyscore(txByTimeKey(config), "+inf", from, "LIMIT", 0, limit);
  if (!hashes.length) return [];
  const bodies = await redis.mget(hashes.map((h) => txBodyKey(config, h)));
  // A body can expire a moment before the timer trims its index entry.
  return bodies.filter((b): b is string => b !== null).map((b) => JSON.parse(b) as TransactionView);
}

/** One stored transaction by hash (64 hex digits, any case), or null. */
export async function transactionByHash(redis: Redis, config: Prefixed, hash: string): Promise<TransactionView | null> {
  const h = hash.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(h)) return null;
  const body = await redis.get(txBodyKey(config, h));
  return body === null ? null : (JSON.parse(body) as TransactionView);
}

/** How many transactions are stored. */
export function storedTransactionCount(redis: Redis, config: Prefixed): Promise<number> {
  return redis.zcard(txByTimeKey(config));
}
