/**
 * Every Redis key name, built here and nowhere else. docs/redis-keys.md shows each family in
 * redis-cli.
 *
 * All keys of one deployment share the hash tag `{REDIS_PREFIX}`, so every script call touches
 * one Redis Cluster slot. Each consumer group keeps its projection under `{prefix}:<namespace>:`,
 * its namespace in the registry of groups (src/domain/groups.ts);
 * every value is text: numbers, addresses, transaction hashes, JSON.
 *
 * The address projection can be spread over ADDRESS_SHARDS hash tags (see `Shard` below); every
 * other key, and the address projection when it has one shard, carries the deployment's tag.
 *
 * Keys that exist per minute, per hour or per transaction are written by the Lua scripts, which
 * get the key's *prefix* in KEYS and append the minute (unix seconds of its start) or the hash
 * themselves: a call touches a number of them unknown in advance, and a script has a fixed
 * number of keys. The full names below are the same prefix plus the same suffix.
 */
import calculateSlot from "cluster-key-slot";
import type { Config } from "../domain/config.ts";
import { GROUP_REGISTRY, type GroupRole } from "../domain/groups.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** The consumer groups that keep a projection in Redis, by role (src/domain/groups.ts). */
export type StateRole = GroupRole;
/** The two sides of an address's value: paid to it by outputs, spent by its inputs. */
export const SIDES = ["received", "sent"] as const;
export type Side = (typeof SIDES)[number];

/** `{btc}:` for REDIS_PREFIX=btc: the start of every key of the deployment. */
export const keyPrefix = (config: Prefixed) => `{${config.REDIS_PREFIX}}:`;

/**
 * Pipeline counters, one hash for all roles: field = metric name (`producer_received_total`, ...),
 * value = sum over every process of the role (each process adds its deltas with HINCRBY).
 * Gauges (`producer_last_message_at_ms`, ...) are set with HSET.
 */
export const metricsKey = (config: Prefixed) => `${keyPrefix(config)}metrics`;
/**
 * HASH producer id -> JSON {"held_since_ms", "written_ms"}: each producer holding transactions Kafka
 * has not acknowledged (an outage), since when, on Redis's clock; rewritten every second while it
 * holds, removed when it holds none. The API counts them as not yet in the log, but on their way.
 */
export const producerHeldKey = (config: Prefixed) => `${keyPrefix(config)}producer:held`;

// ---- shards of the address projection (src/domain/shards.ts) ----------------------------------

const SLOTS = 16_384;

/**
 * The hash tag of a shard: `<prefix>:addresses:<index>of<of>`, with `.<n>` added when needed so
 * its slot falls in the shard's share of the 16,384 slots (shard i of n: from i/n to (i+1)/n).
 * On a cluster whose masters split the slots evenly, as `redis-cli --cluster create` does, the
 * shards then land on different masters.
 */
function shardTag(config: Prefixed, shard: Shard): string {
  const base = `${config.REDIS_PREFIX}:addresses:${shard.index}of${shard.of}`;
  const from = Math.floor((shard.index * SLOTS) / shard.of);
  const to = Math.floor(((shard.index + 1) * SLOTS) / shard.of);
  for (let n = 0; ; n++) {
    const tag = n === 0 ? base : `${base}.${n}`;
    const slot = calculateSlot(tag);
    if (slot >= from && slot < to) return tag;
  }
}

// ---- every group: where it is in the log, and what it has applied -------------------------------

/** `{prefix}:<namespace>:` (or `{<shard tag>}:<namespace>:`): the start of every key of a group's projection. */
const groupPrefix = (config: Prefixed, role: StateRole, shard: Shard = WHOLE) =>
  `${shard.of === 1 ? keyPrefix(config) : `{${shardTag(config, shard)}}:`}${GROUP_REGISTRY[role].namespace}:`;

/** HASH "<topic>:<partition>" -> next offset: how far in the log the projection is, written with the effects. */
export const positionKey = (config: Prefixed, role: StateRole, shard: Shard = WHOLE) => `${groupPrefix(config, role, shard)}position`;
/** HASH "<topic>:<partition>:until" and ":covers_from_ms": the replay that started the projection (lua/startReplay-2.lua). */
export const replayKey = (config: Prefixed, role: StateRole, shard: Shard = WHOLE) => `${groupPrefix(config, role, shard)}replay`;
/** ZSET transaction hash -> event time: the transactions the group applied (each counts once). */
export const seenKey = (config: Prefixed, role: StateRole, shard: Shard = WHOLE) => `${groupPrefix(config, role, shard)}seen`;
/** The field of a partition in the position and replay hashes. */
export const positionField = (topic: string, partition: number) => `${topic}:${partition}`;

// ---- group btc-minute-counts -------------------------------------------------------------------

/** `<prefix><minute start, unix s>` is a HASH {count, value} with a TTL. */
export const countsMinutePrefix = (config: Prefixed) => `${groupPrefix(config, "counts")}minute:`;
export const countsMinuteKey = (config: Prefixed, minuteSec: number) => `${countsMinutePrefix(config)}${minuteSec}`;
/** `<prefix><hour start, unix s>` is a HASH {count, value} with a TTL. */
export const countsHourPrefix = (config: Prefixed) => `${groupPrefix(config, "counts")}hour:`;
export const countsHourKey = (config: Prefixed, hourSec: number) => `${countsHourPrefix(config)}${hourSec}`;

// ---- group btc-address-values ------------------------------------------------------------------

/** The keys of the address projection, or of one of its shards. */
export function addressKeys(config: Prefixed, shard: Shard = WHOLE) {
  const at = groupPrefix(config, "addresses", shard);
  return {
    /** ZSET address -> satoshi over the window, per side: the union of the minute sets. */
    total: (side: Side) => `${at}${side}`,
    /** `<prefix><minute>` is a ZSET address -> satoshi of that minute, per side. */
    minutePrefix: (side: Side) => `${at}${side}:`,
    /** ZSET minute -> minute: the minutes that have sets not yet subtracted. */
    minutes: `${at}minutes`,
    /** STRING: the first minute (unix s) of the window; every minute before it has been subtracted. */
    window: `${at}window`,
  };
}
export const addrTotalKey = (config: Prefixed, side: Side, shard: Shard = WHOLE) => addressKeys(config, shard).total(side);
export const addrMinuteKey = (config: Prefixed, side: Side, minuteSec: number, shard: Shard = WHOLE) => `${addressKeys(config, shard).minutePrefix(side)}${minuteSec}`;
export const addrWindowKey = (config: Prefixed, shard: Shard = WHOLE) => addressKeys(config, shard).window;

// ---- group btc-transactions --------------------------------------------------------------------

/** ZSET transaction hash -> event time (unix s): every stored transaction. */
export const txByTimeKey = (config: Prefixed) => `${groupPrefix(config, "transactions")}by-time`;
/** ZSET hash -> time: the transactions of a dropped projection whose bodies are still to delete (lua/dropTransactions-5.lua). */
export const txDroppedKey = (config: Prefixed) => `${txByTimeKey(config)}:dropped`;
/** `<prefix><hash>` is a STRING: the transaction's JSON, as the API serves it. */
export const txBodyPrefix = (config: Prefixed) => groupPrefix(config, "transactions");
export const txBodyKey = (config: Prefixed, hash: string) => `${txBodyPrefix(config)}${hash}`;

/** SCAN MATCH pattern of every key of a group's projection (REDIS_PREFIX allows no glob characters). */
export const groupKeyPattern = (config: Prefixed, role: StateRole, shard: Shard = WHOLE) => `${groupPrefix(config, role, shard)}*`;
