/**
 * Reads of the projections, for the API, rebuild and tests. Times in and out are unix
 * milliseconds, UTC; values are satoshi. Key layout: docs/redis-keys.md. Reads never write: only
 * the consumers move the windows.
 *
 *   latestTransactions   newest N stored transactions by time     2 round trips, O(log T + N)
 *   transactionByHash    one stored transaction                   1 GET
 *   minuteBuckets        count and value of n consecutive minutes 1 round trip, O(n)
 *   hourBuckets          count and value of n consecutive hours   1 round trip, O(n)
 *   topAddresses         top N addresses received / sent, 3 hours 1 round trip, O(log A + N)
 *   groupProgress        a group's positions, replay and coverage 1 round trip per shard
 */
import { Type } from "@sinclair/typebox";
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import { HELD_REPORT_STALE_MS, type PartitionCoverage } from "../domain/coverage.ts";
import type { GroupRole } from "../domain/groups.ts";
import { addressShards, type Shard, WHOLE } from "../domain/shards.ts";
import type { TransactionView } from "../domain/transaction.ts";
import { hourOf, minuteOf, toSec, windowStart } from "../domain/window.ts";
import { addrTotalKey, countsHourKey, countsMinuteKey, positionKey, producerHeldKey, replayKey, type Side, txBodyKey, txByTimeKey } from "./keys.ts";

export type { Side };

type Prefixed = Pick<Config, "REDIS_PREFIX">;
/** The address reads need to know the shards (ADDRESS_SHARDS; one when absent). */
type Sharded = Prefixed & Partial<Pick<Config, "ADDRESS_SHARDS">>;

/** Transactions and their total value in one minute or one hour. */
export interface Bucket {
  /** Start of the minute or hour, unix ms. */
  start: number;
  count: number;
  /** Sum of the outputs, satoshi. */
  value: number;
}

/** An address and its total on one side over the window: what `topAddresses` reads, and a row of GET /high_value_addr. */
export const AddressTotal = Type.Object(
  {
    address: Type.String({ description: "bitcoin address", example: "35wEodJ1x64uUy3PkenD1gT3tnrHhQSNTG" }),
    total_value: Type.Integer({ minimum: 0, description: "aggregate value over the window, satoshi", example: 1790000 }),
  },
  { title: "AddressTotal" },
);
export type AddressTotal = typeof AddressTotal.static;

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

/**
 * The `limit` addresses with the highest total on `side` over the window, highest first (ties by
 * address, as Redis orders them). ZREVRANGE: O(log A + limit), A = addresses in the window. The
 * window is as the addresses group last moved it (every few seconds, src/consumers/addresses.ts).
 *
 * With the projection in shards, each shard's top `limit` is read (one round trip each, in
 * parallel) and merged. That is exact: an address lives in one shard only, so its total there is
 * its whole total; and an address of the global top `limit` has fewer than `limit` addresses
 * above it anywhere, so fewer in its own shard, so it is in its shard's top `limit`.
 */
export async function topAddresses(redis: Redis, config: Sharded, side: Side, limit: number): Promise<AddressTotal[]> {
  if (limit <= 0) return [];
  const read = async (shard: Shard) => {
    const flat = await redis.zrevrange(addrTotalKey(config, side, shard), 0, limit - 1, "WITHSCORES");
    const out: AddressTotal[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ address: flat[i] as string, total_value: Number(flat[i + 1]) });
    return out;
  };
  const shards = addressShards(config);
  if (shards.length === 1) return read(WHOLE);
  const all = (await Promise.all(shards.map(read))).flat();
  // Redis's order: the total, highest first; equal totals by address, last first (ZREVRANGE).
  all.sort((a, b) => b.total_value - a.total_value || (a.address < b.address ? 1 : a.address > b.address ? -1 : 0));
  return all.slice(0, limit);
}

/** A group's projection: per partition, its position, the replay that started it and what it covers. */
export interface GroupProgress {
  /** "<topic>:<partition>" -> next offset; empty when Redis holds no position (a replay starts). */
  positions: Map<string, number>;
  /** "<topic>:<partition>" -> the offset the projection's replay started at. */
  replayFrom: Map<string, number>;
  /** "<topic>:<partition>" -> the log's end when the projection's replay started. */
  replayUntil: Map<string, number>;
  /** "<topic>:<partition>" -> since when (record stamp, unix ms) the projection holds that partition's records. */
  coversFromMs: Map<string, number>;
  /** "<topic>:<partition>" -> the projection holds every record of the partition stamped before it (unix ms). */
  throughMs: Map<string, number>;
  /** "<topic>:<partition>" -> stamps [from, to) of records the log lost before the group read them. */
  gaps: Map<string, [number, number][]>;
  /** "<topic>:<partition>" -> why the partition's consumer cannot apply its records (a key of the wrong type...). */
  errors: Map<string, string>;
}

const emptyProgress = (): GroupProgress => ({
  positions: new Map(),
  replayFrom: new Map(),
  replayUntil: new Map(),
  coversFromMs: new Map(),
  throughMs: new Map(),
  gaps: new Map(),
  errors: new Map(),
});

/** What the projection holds of one partition, for the completeness of an answer (src/domain/coverage.ts). */
export function partitionCoverage(progress: GroupProgress, field: string): PartitionCoverage {
  return {
    position: progress.positions.get(field) ?? null,
    replayUntil: progress.replayUntil.get(field) ?? null,
    coversFromMs: progress.coversFromMs.get(field) ?? null,
    throughMs: progress.throughMs.get(field) ?? null,
    gaps: progress.gaps.get(field) ?? [],
  };
}

/** The shards a group's projection is spread over (one, WHOLE, but for the address projection in shards). */
export const groupShards = (config: Sharded, role: GroupRole): Shard[] => (role === "addresses" ? addressShards(config) : [WHOLE]);

/** Each shard's projection of a group, in the order of `groupShards`. */
export function shardProgresses(redis: Redis, config: Sharded, role: GroupRole): Promise<GroupProgress[]> {
  return Promise.all(groupShards(config, role).map((shard) => shardProgress(redis, config, role, shard)));
}

/**
 * A group's projection. The address projection in shards is as far as its slowest shard: per
 * partition the lowest position (none while a shard has none), the earliest replay start, the
 * latest replay end and coverage, the earliest `throughMs`, every gap and error.
 */
export async function groupProgress(redis: Redis, config: Sharded, role: GroupRole): Promise<GroupProgress> {
  const parts = await shardProgresses(redis, config, role);
  if (parts.length === 1) return parts[0] as GroupProgress;
  const out = emptyProgress();
  for (const field of (parts[0] as GroupProgress).positions.keys()) {
    const each = parts.map((p) => p.positions.get(field));
    if (each.every((o) => o !== undefined)) out.positions.set(field, Math.min(...(each as number[])));
  }
  const merge = <T>(pick: (p: GroupProgress) => Map<string, T>, into: Map<string, T>, keep: (a: T, b: T) => T) => {
    for (const p of parts) for (const [field, v] of pick(p)) into.set(field, into.has(field) ? keep(into.get(field) as T, v) : v);
  };
  merge((p) => p.replayFrom, out.replayFrom, Math.min);
  merge((p) => p.replayUntil, out.replayUntil, Math.max);
  merge((p) => p.coversFromMs, out.coversFromMs, Math.max);
  for (const field of (parts[0] as GroupProgress).throughMs.keys()) {
    const each = parts.map((p) => p.throughMs.get(field));
    if (each.every((t) => t !== undefined)) out.throughMs.set(field, Math.min(...(each as number[])));
  }
  merge(
    (p) => p.gaps,
    out.gaps,
    (a, b) => [...a, ...b],
  );
  merge(
    (p) => p.errors,
    out.errors,
    (a, b) => `${a}; ${b}`,
  );
  return out;
}

/** "[[from, to], ...]" as the consumers write it; anything else reads as no gap. */
function parseGaps(text: string): [number, number][] {
  try {
    const gaps = JSON.parse(text) as unknown;
    if (!Array.isArray(gaps)) return [];
    return gaps.filter((g): g is [number, number] => Array.isArray(g) && g.length === 2 && g.every(Number.isFinite));
  } catch {
    return [];
  }
}

async function shardProgress(redis: Redis, config: Prefixed, role: GroupRole, shard: Shard): Promise<GroupProgress> {
  const [positions, replay] =
    (await redis
      .pipeline()
      .hgetall(positionKey(config, role, shard))
      .hgetall(replayKey(config, role, shard))
      .exec()) ?? [];
  if (positions?.[0]) throw positions[0];
  if (replay?.[0]) throw replay[0];
  const out = emptyProgress();
  for (const [field, offset] of Object.entries((positions?.[1] ?? {}) as Record<string, string>)) out.positions.set(field, Number(offset));
  const numbers: Record<string, Map<string, number>> = { from: out.replayFrom, until: out.replayUntil, covers_from_ms: out.coversFromMs, through_ms: out.throughMs };
  for (const [field, value] of Object.entries((replay?.[1] ?? {}) as Record<string, string>)) {
    const at = field.lastIndexOf(":");
    const [partition, name] = [field.slice(0, at), field.slice(at + 1)];
    if (name === "gaps") out.gaps.set(partition, parseGaps(value));
    else if (name === "error") out.errors.set(partition, value);
    else numbers[name]?.set(partition, Number(value));
  }
  return out;
}

/** Records the group has still to replay: the sum over partitions of the replay's end less the position. */
export function replayLeft(progress: GroupProgress): number {
  let left = 0;
  for (const [field, until] of progress.replayUntil) left += Math.max(0, until - (progress.positions.get(field) ?? 0));
  return left;
}

/** Records the replay had to apply when it started: the sum over partitions of its end less its start. */
export function replayTotal(progress: GroupProgress): number {
  let total = 0;
  for (const [field, until] of progress.replayUntil) total += Math.max(0, until - (progress.replayFrom.get(field) ?? until));
  return total;
}

/**
 * Since when (unix ms, Redis's clock) a producer holds transactions Kafka has not acknowledged:
 * the oldest of the producers' fresh reports (src/redis/keys.ts producerHeldKey); null when none.
 */
export async function producerHeldSinceMs(redis: Redis, config: Prefixed, nowMs: number): Promise<number | null> {
  let since: number | null = null;
  for (const report of Object.values(await redis.hgetall(producerHeldKey(config)))) {
    let held: number;
    let written: number;
    try {
      const r = JSON.parse(report) as { held_since_ms?: unknown; written_ms?: unknown };
      [held, written] = [Number(r.held_since_ms), Number(r.written_ms)];
    } catch {
      continue;
    }
    if (!Number.isFinite(held) || !(written >= nowMs - HELD_REPORT_STALE_MS)) continue;
    since = since === null ? held : Math.min(since, held);
  }
  return since;
}
