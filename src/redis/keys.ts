/**
 * The Redis key names every projection shares, and the start of each projection's own keys.
 * A projection builds its key families in its folder (src/projections/<name>/keys.ts), inside
 * `groupPrefix`. docs/redis-keys.md shows each family in redis-cli.
 *
 * All keys of one deployment share the hash tag `{REDIS_PREFIX}`, so every script call touches
 * one Redis Cluster slot. Each consumer group keeps its projection under `{prefix}:<namespace>:`,
 * the namespace of its spec (src/domain/projection.ts); every value is text: numbers, addresses,
 * transaction hashes, JSON.
 *
 * A sharded projection is spread over ADDRESS_SHARDS hash tags (see `Shard` below); every other
 * key, and a sharded projection with one shard, carries the deployment's tag.
 *
 * Keys that exist per minute, per hour or per transaction are written by the Lua scripts, which
 * get the key's *prefix* in KEYS and append the minute (unix seconds of its start) or the hash
 * themselves: a call touches a number of them unknown in advance, and a script has a fixed
 * number of keys. The full names below are the same prefix plus the same suffix.
 */
import calculateSlot from "cluster-key-slot";
import type { Config } from "../domain/config.ts";
import type { ProjectionSpec } from "../domain/projection.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;
/** What the keys of a projection need of its spec. */
type Spaced = Pick<ProjectionSpec, "namespace">;

/** `{btc}:` for REDIS_PREFIX=btc: the start of every key of the deployment. */
export const keyPrefix = (config: Prefixed) => `{${config.REDIS_PREFIX}}:`;

/**
 * Pipeline counters, one hash for all roles: field = metric name (`producer_received_total`, ...),
 * value = sum over every process of the role (each process adds its deltas with HINCRBY).
 * Gauges (`producer_last_message_at_ms`, ...) are set with HSET.
 */
export const metricsKey = (config: Prefixed) => `${keyPrefix(config)}metrics`;
/**
 * HASH of the producers' reports, on Redis's clock (src/domain/coverage.ts `Held`):
 *   `<pid>@<host>`          JSON {"held_since_ms", "written_ms"}: since when the producer holds
 *                           transactions Kafka has not acknowledged; rewritten every second while it
 *                           holds, removed when it holds none;
 *   `<pid>@<host>:flushed`  JSON {"held_since_ms", "flushed_ms"}: the spans it held past
 *                           LATENESS_MS (an outage), merged, and a moment after Kafka took them;
 *                           kept FLUSHED_REPORT_KEEP_MS.
 * The API counts what is held as on its way to the log, and what was flushed as not applied until
 * a projection's coverage passes `flushed_ms`.
 */
export const producerHeldKey = (config: Prefixed) => `${keyPrefix(config)}producer:held`;

// ---- shards of a sharded projection (src/domain/shards.ts) -------------------------------------

const SLOTS = 16_384;

/**
 * The hash tag of a shard: `<prefix>:<namespace>:<index>of<of>`, with `.<n>` added when needed so
 * its slot falls in the shard's share of the 16,384 slots (shard i of n: from i/n to (i+1)/n).
 * On a cluster whose masters split the slots evenly, as `redis-cli --cluster create` does, the
 * shards then land on different masters.
 */
function shardTag(config: Prefixed, spec: Spaced, shard: Shard): string {
  const base = `${config.REDIS_PREFIX}:${spec.namespace}:${shard.index}of${shard.of}`;
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
export const groupPrefix = (config: Prefixed, spec: Spaced, shard: Shard = WHOLE) =>
  `${shard.of === 1 ? keyPrefix(config) : `{${shardTag(config, spec, shard)}}:`}${spec.namespace}:`;

/** HASH "<topic>:<partition>" -> next offset: how far in the log the projection is, written with the effects. */
export const positionKey = (config: Prefixed, spec: Spaced, shard: Shard = WHOLE) => `${groupPrefix(config, spec, shard)}position`;
/** HASH "<topic>:<partition>:until" and ":covers_from_ms": the replay that started the projection (lua/startReplay-3.lua). */
export const replayKey = (config: Prefixed, spec: Spaced, shard: Shard = WHOLE) => `${groupPrefix(config, spec, shard)}replay`;
/** ZSET transaction hash -> event time: the transactions the group applied (each counts once). */
export const seenKey = (config: Prefixed, spec: Spaced, shard: Shard = WHOLE) => `${groupPrefix(config, spec, shard)}seen`;
/**
 * STRING: the projection's version, Redis's time (unix µs) of the last call that wrote its figures
 * or its progress (position, replay, coverage). Every such script sets it in the same atomic call
 * (lua/includes/bumpVersion.lua), strictly increasing, so it also moves after the key is lost. The
 * API re-reads an answer only when it moved (src/api/fresh.ts).
 */
export const versionKey = (config: Prefixed, spec: Spaced, shard: Shard = WHOLE) => `${groupPrefix(config, spec, shard)}version`;
/** The field of a partition in the position and replay hashes. */
export const positionField = (topic: string, partition: number) => `${topic}:${partition}`;

/** SCAN MATCH pattern of every key of a group's projection (REDIS_PREFIX allows no glob characters). */
export const groupKeyPattern = (config: Prefixed, spec: Spaced, shard: Shard = WHOLE) => `${groupPrefix(config, spec, shard)}*`;
