/**
 * Reads of the consumers' Redis state, for the API (and tests). Times in and out are unix
 * milliseconds, UTC; values are satoshi. Key layout: docs/redis-keys.md.
 *
 *   latestTransactions   newest N stored transactions by time         2 round trips, O(N + one minute)
 *   transactionByHash    one stored transaction                       1 round trip (findTransaction-3.lua)
 *   minuteBuckets        count and value of n consecutive minutes     1 round trip, O(n)
 *   hourBuckets          count and value of n consecutive hours       1 round trip, O(n)
 *   topAddresses         top N addresses received / sent, 3 hours     1 round trip, O(log A + N)
 */
import type Redis from "ioredis";
import type { Config } from "../config.ts";
import { BODY_TIME_FROM, decodeBody, type StoredTransaction } from "../consumers/body.ts";
import { fingerprint, hourOf, minuteOf, seenBucket, toSec, windowStart } from "../consumers/state.ts";
import { addrReceivedKey, addrSentKey, addrWindowKey, countsHourKey, countsMinuteKey, txListKey, txMinutesKey } from "./keys.ts";
import { defineScripts } from "./loader.ts";
import { advanceAddressWindow, findTransaction, queue, run } from "./scripts.ts";

export type { StoredTransaction } from "../consumers/body.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** Transactions and their total value in one minute or one hour. */
export interface Bucket {
  /** Start of the minute or hour, unix ms. */
  start: number;
  count: number;
  /** Sum of the outputs, satoshi. */
  value: number;
}

export type Side = "received" | "sent";

export interface AddressTotal {
  address: string;
  total_value: number;
}

/**
 * The newest `limit` stored transactions by event time, newest first (ties by hash). With
 * `nowMs`, minutes already outside the window at that time are left out even before the
 * transactions group's timer trims them. Bodies are ordered on their fixed-offset time and hash
 * bytes, and only the page is decoded.
 */
export async function latestTransactions(
  redis: Redis,
  config: Prefixed,
  limit: number,
  nowMs?: number,
  /** How a body becomes a transaction; the API passes a memoizing one (src/api/decoded.ts). */
  decode: (body: Buffer) => StoredTransaction = decodeBody,
): Promise<StoredTransaction[]> {
  if (limit <= 0) return [];
  const counts = await redis.hgetall(txMinutesKey(config));
  const from = nowMs === undefined ? -Infinity : windowStart(toSec(nowMs));
  const minutes = Object.entries(counts)
    .map(([minute, count]) => [Number(minute), Number(count)] as const)
    .filter(([minute, count]) => minute >= from && count > 0)
    .sort((a, b) => b[0] - a[0]);
  const wanted: number[] = [];
  let total = 0;
  for (const [minute, count] of minutes) {
    if (total >= limit) break;
    wanted.push(minute);
    total += count;
  }
  if (!wanted.length) return [];
  const pipeline = redis.pipeline();
  for (const minute of wanted) pipeline.lrangeBuffer(txListKey(config, minute), 0, -1);
  const replies = (await pipeline.exec()) ?? [];
  const bodies: Buffer[] = [];
  for (const [err, list] of replies) {
    if (err) throw err;
    bodies.push(...(list as Buffer[]));
  }
  // Order on the fixed-offset time and hash bytes; decode only the ones returned.
  bodies.sort((a, b) => b.readUInt32BE(BODY_TIME_FROM - 1) - a.readUInt32BE(BODY_TIME_FROM - 1) || Buffer.compare(a.subarray(1, 33), b.subarray(1, 33)));
  return bodies.slice(0, limit).map(decode);
}

/** One stored transaction by hash (64 hex digits, any case), or null. */
export async function transactionByHash(redis: Redis, config: Prefixed, hash: string): Promise<StoredTransaction | null> {
  const h = hash.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(h)) return null;
  const body = await run(redis, findTransaction(config, h, seenBucket(h), fingerprint(h)));
  return body ? decodeBody(body) : null;
}

/** How many transactions are stored (all minutes, before any trim the timer has not done yet). */
export async function storedTransactionCount(redis: Redis, config: Prefixed): Promise<number> {
  const counts = await redis.hvals(txMinutesKey(config));
  return counts.reduce((sum, c) => sum + Number(c), 0);
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
  return buckets(redis, starts.map((m) => countsMinuteKey(config, m)), starts);
}

/** `n` consecutive hours from the hour holding `fromMs`, oldest first; empty hours are zeros. */
export function hourBuckets(redis: Redis, config: Prefixed, fromMs: number, n: number): Promise<Bucket[]> {
  const first = hourOf(toSec(fromMs));
  const starts = Array.from({ length: Math.max(0, n) }, (_, i) => first + 3600 * i);
  return buckets(redis, starts.map((h) => countsHourKey(config, h)), starts);
}

/**
 * The `limit` addresses with the highest total on `side` over the window, highest first (ties by
 * address, as Redis orders them). With `nowMs`, the window is first moved to that time in the
 * same round trip (advanceAddressWindow-6.lua, idempotent), so the answer is exact even when the
 * addresses group is idle or down. ZREVRANGE: O(log A + limit), A = addresses in the window.
 */
export async function topAddresses(redis: Redis, config: Prefixed, side: Side, limit: number, nowMs?: number): Promise<AddressTotal[]> {
  if (limit <= 0) return [];
  defineScripts(redis);
  const key = side === "received" ? addrReceivedKey(config) : addrSentKey(config);
  const pipeline = redis.pipeline();
  if (nowMs !== undefined) queue(pipeline, advanceAddressWindow(config, toSec(nowMs)));
  pipeline.zrevrange(key, 0, limit - 1, "WITHSCORES");
  const replies = (await pipeline.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const flat = (replies[replies.length - 1]?.[1] ?? []) as string[];
  const out: AddressTotal[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ address: flat[i] as string, total_value: Number(flat[i + 1]) });
  return out;
}

/** The first minute of the address window as last moved (unix ms), or null before the group ran. */
export async function addressWindowStart(redis: Redis, config: Prefixed): Promise<number | null> {
  const start = await redis.get(addrWindowKey(config));
  return start === null ? null : Number(start) * 1000;
}
