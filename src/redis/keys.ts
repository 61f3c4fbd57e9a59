/**
 * Every Redis key name, built here and nowhere else.
 *
 * All keys of one deployment share the hash tag `{REDIS_PREFIX}`, so every script call touches
 * one Redis Cluster slot and runs unchanged on a cluster.
 *
 * Keys that exist per minute, per hour or per bucket are written by the Lua scripts, which get
 * the key's *prefix* in KEYS and append the minute (unix seconds of its start) and bucket
 * themselves: a batch touches a number of them unknown in advance, and a script has a fixed
 * number of keys. The full names below (`countsMinuteKey`, ...) are the same prefix plus the same
 * suffix, for readers and tests; the suffix formats are documented in docs/redis-keys.md.
 */
import type { Config } from "../config.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** `{btc}:` for REDIS_PREFIX=btc: the start of every key of the deployment. */
export const keyPrefix = (config: Pick<Config, "REDIS_PREFIX">) => `{${config.REDIS_PREFIX}}:`;

/**
 * Pipeline counters, one hash for all roles: field = metric name (`producer_received_total`, ...),
 * value = sum over every process of the role (each process adds its deltas with HINCRBY).
 * Gauges (`producer_last_message_at_ms`, ...) are set with HSET.
 */
export const metricsKey = (config: Pick<Config, "REDIS_PREFIX">) => `${keyPrefix(config)}metrics`;

/** The consumer groups that keep state in Redis, by role (the same names as GROUPS in src/kafka/client.ts). */
export type StateRole = "counts" | "addresses" | "transactions";

// ---- dedupe: one family per group --------------------------------------------------------------

/**
 * Prefix of a group's dedupe sets: `<prefix><minute>:<bucket>` is a SET of the 64-bit
 * fingerprints (signed decimal, so Redis keeps it as a compact intset) of the transactions the
 * group applied whose event time falls in that minute, split by `bucket` (from the hash).
 */
export const seenPrefix = (config: Prefixed, role: StateRole) => `${keyPrefix(config)}seen:${role}:`;
export const seenKey = (config: Prefixed, role: StateRole, minuteSec: number, bucket: number) => `${seenPrefix(config, role)}${minuteSec}:${bucket}`;

// ---- group btc-minute-counts -------------------------------------------------------------------

/** Prefix of the minute buckets: `<prefix><minute start, unix s>` is a HASH {count, value}. */
export const countsMinutePrefix = (config: Prefixed) => `${keyPrefix(config)}count:m:`;
export const countsMinuteKey = (config: Prefixed, minuteSec: number) => `${countsMinutePrefix(config)}${minuteSec}`;
/** Prefix of the hour buckets: `<prefix><hour start, unix s>` is a HASH {count, value}. */
export const countsHourPrefix = (config: Prefixed) => `${keyPrefix(config)}count:h:`;
export const countsHourKey = (config: Prefixed, hourSec: number) => `${countsHourPrefix(config)}${hourSec}`;

// ---- group btc-address-values ------------------------------------------------------------------

/** ZSET address -> satoshi received (sum of outputs paid to it) over the 3-hour window. */
export const addrReceivedKey = (config: Prefixed) => `${keyPrefix(config)}addr:received`;
/** ZSET address -> satoshi sent (sum of the inputs it spent) over the 3-hour window. */
export const addrSentKey = (config: Prefixed) => `${keyPrefix(config)}addr:sent`;
/** ZSET minute -> minute: the minutes that have a slice not yet subtracted from the window. */
export const addrSlicesKey = (config: Prefixed) => `${keyPrefix(config)}addr:slices`;
/** STRING: the first minute (unix s) of the address window; every slice before it has been subtracted. */
export const addrWindowKey = (config: Prefixed) => `${keyPrefix(config)}addr:window`;
/** Prefix of the per-minute slices: `<prefix><minute>` is a LIST of binary chunks (what that minute added). */
export const addrSlicePrefix = (config: Prefixed) => `${keyPrefix(config)}addr:slice:`;
export const addrSliceKey = (config: Prefixed, minuteSec: number) => `${addrSlicePrefix(config)}${minuteSec}`;
/** Prefix of the address names: `<prefix><0..4095>` is a HASH 8-byte address fingerprint -> address. */
export const addrNamesPrefix = (config: Prefixed) => `${keyPrefix(config)}addr:names:`;
export const addrNamesKey = (config: Prefixed, bucket: number) => `${addrNamesPrefix(config)}${bucket}`;

// ---- group btc-transactions --------------------------------------------------------------------

/** HASH minute (unix s) -> number of transactions stored for that minute. */
export const txMinutesKey = (config: Prefixed) => `${keyPrefix(config)}tx:minutes`;
/** Prefix of the per-minute transaction lists: `<prefix><minute>` is a LIST of binary bodies. */
export const txListPrefix = (config: Prefixed) => `${keyPrefix(config)}tx:m:`;
export const txListKey = (config: Prefixed, minuteSec: number) => `${txListPrefix(config)}${minuteSec}`;

// ---- rebuild (bun run rebuild) -------------------------------------------------------------------

/** HASH {group, role, started_at, replayed, total} while `bun run rebuild` runs; deleted when it ends. */
export const rebuildStatusKey = (config: Prefixed) => `${keyPrefix(config)}rebuild`;

/**
 * SCAN MATCH patterns of every key a group keeps (its dedupe sets and its state), what a rebuild
 * deletes before replaying the group. REDIS_PREFIX allows no glob characters, so the prefixes
 * are literal.
 */
export function groupKeyPatterns(config: Prefixed, role: StateRole): string[] {
  const seen = `${seenPrefix(config, role)}*`;
  switch (role) {
    case "counts":
      return [seen, `${countsMinutePrefix(config)}*`, `${countsHourPrefix(config)}*`];
    case "addresses":
      return [seen, addrReceivedKey(config), addrSentKey(config), addrSlicesKey(config), addrWindowKey(config), `${addrSlicePrefix(config)}*`, `${addrNamesPrefix(config)}*`];
    case "transactions":
      return [seen, txMinutesKey(config), `${txListPrefix(config)}*`];
  }
}
