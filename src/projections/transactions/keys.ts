/** The keys of the transactions projection (docs: ./README.md). */
import type { Config } from "../../domain/config.ts";
import { groupPrefix } from "../../redis/keys.ts";
import { spec } from "./spec.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** ZSET transaction hash -> event time (unix s): every stored transaction. */
export const txByTimeKey = (config: Prefixed) => `${groupPrefix(config, spec)}by-time`;
/** ZSET hash -> time: the transactions of a dropped projection whose bodies are still to delete (lua/transactions/dropTransactions-6.lua). */
export const txDroppedKey = (config: Prefixed) => `${txByTimeKey(config)}:dropped`;
/** `<prefix><hash>` is a STRING: the transaction's JSON, as the API serves it. */
export const txBodyPrefix = (config: Prefixed) => groupPrefix(config, spec);
export const txBodyKey = (config: Prefixed, hash: string) => `${txBodyPrefix(config)}${hash}`;
/**
 * STREAM id "<n>-0" -> `tx` = the transaction's JSON: every transaction the apply script stored, n
 * counting them without a gap, in the order stored (what /stream reads). Trimmed to about
 * STREAM_MAX entries by every write; left alone by the projection's drop.
 */
export const txStreamKey = (config: Prefixed) => `${groupPrefix(config, spec)}stream`;
