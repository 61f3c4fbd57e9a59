/**
 * Reads of the transactions projection.
 *
 *   latestTransactions   newest N stored transactions by time     2 round trips, O(log T + N)
 *   transactionByHash    one stored transaction                   1 GET
 *   transactionsAfter    the stream's entries after n, in order   1 XRANGE, O(log S + N)
 *   lastTransactionSeq   the stream's last n                      1 XREVRANGE, O(1)
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import type { TransactionView } from "../../domain/transaction.ts";
import { toSec, windowStart } from "../../domain/window.ts";
import { txBodyKey, txByTimeKey, txStreamKey } from "./keys.ts";

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

/** n of a stream id "<n>-0". */
const seqOf = (id: string) => Number(id.slice(0, id.indexOf("-")));

/**
 * The transactions stream's entries after the `n`th stored transaction, oldest first, at most
 * `limit`: each with its number and the transaction as stored. An n older than the stream's
 * first entry (trimmed) starts at that entry: the caller sees the jump in the numbers.
 */
export async function transactionsAfter(redis: Redis, config: Prefixed, n: number, limit: number): Promise<{ n: number; tx: TransactionView }[]> {
  if (limit <= 0) return [];
  const entries = (await redis.xrange(txStreamKey(config), `(${Math.max(0, Math.floor(n))}-0`, "+", "COUNT", limit)) as [string, string[]][];
  return entries.map(([id, fields]) => ({ n: seqOf(id), tx: JSON.parse(fields[fields.indexOf("tx") + 1] ?? "null") as TransactionView }));
}

/** The number of the last transaction in the stream; 0 when it is empty or absent (a new or flushed Redis). */
export async function lastTransactionSeq(redis: Redis, config: Prefixed): Promise<number> {
  const [last] = (await redis.xrevrange(txStreamKey(config), "+", "-", "COUNT", 1)) as [string, string[]][];
  return last ? seqOf(last[0]) : 0;
}
