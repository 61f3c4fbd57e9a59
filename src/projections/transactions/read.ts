/**
 * Reads of the transactions projection.
 *
 *   latestHashes         hashes of the newest N by time           1 ZREVRANGEBYSCORE, O(log T + N)
 *   transactionBodies    stored transactions by hash              1 MGET, O(N)
 *   latestTransactions   newest N stored transactions by time     both: 2 round trips
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
 * The hashes of the newest `limit` stored transactions by event time, newest first (equal times in
 * reverse hash order, as the sorted set reads backwards). With `nowMs`, transactions already
 * before the window start are left out even before the group's timer trims them.
 */
export function latestHashes(redis: Redis, config: Prefixed, limit: number, nowMs?: number): Promise<string[]> {
  if (limit <= 0) return Promise.resolve([]);
  const from = nowMs === undefined ? "-inf" : windowStart(toSec(nowMs));
  return redis.zrevrangebyscore(txByTimeKey(config), "+inf", from, "LIMIT", 0, limit);
}

/** The stored transactions of `hashes`, in their order; null for one not stored (a body can expire a moment before the timer trims its index entry). */
export async function transactionBodies(redis: Redis, config: Prefixed, hashes: readonly string[]): Promise<(TransactionView | null)[]> {
  if (!hashes.length) return [];
  const bodies = await redis.mget(hashes.map((h) => txBodyKey(config, h)));
  return bodies.map((b) => (b === null ? null : (JSON.parse(b) as TransactionView)));
}

/** The newest `limit` stored transactions by event time, newest first (`latestHashes`, then their bodies). */
export async function latestTransactions(redis: Redis, config: Prefixed, limit: number, nowMs?: number): Promise<TransactionView[]> {
  const bodies = await transactionBodies(redis, config, await latestHashes(redis, config, limit, nowMs));
  return bodies.filter((b): b is TransactionView => b !== null);
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
