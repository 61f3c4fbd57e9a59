/**
 * Dropping the transactions projection without blocking Redis: one short atomic call
 * (lua/transactions/dropTransactions-6.lua) drops it, its position included, and only sets the
 * stored bodies aside; they are then deleted DROP_BUDGET a call
 * (lua/transactions/deleteDroppedTransactions-4.lua). Redis answers the API's reads between the
 * calls. A drop stopped after its first call leaves bodies that the next drop, or the group's
 * upkeep, deletes (`finishDrops`).
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import { positionKey, replayKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type DropProjection, numbers, run, type ScriptCall } from "../../redis/scripts.ts";
import { txBodyPrefix, txByTimeKey, txDroppedKey } from "./keys.ts";
import { spec } from "./spec.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

export interface Dropped {
  /** False when an earlier drop's transactions are still being deleted: nothing was dropped (finish that one first). */
  dropped: boolean;
  /** Keys the call deleted. */
  deleted: number;
  /** Transactions whose bodies are left to delete (deleteDroppedTransactions). */
  left: number;
}

/** lua/transactions/dropTransactions-6.lua */
export function dropTransactions(config: Prefixed): ScriptCall<Dropped> {
  return {
    name: "dropTransactions",
    keys: [txByTimeKey(config), txDroppedKey(config), seenKey(config, spec), positionKey(config, spec), replayKey(config, spec), versionKey(config, spec)],
    args: [],
    parse: (reply) => {
      const [status, a = 0, b = 0] = reply as [string, number, number];
      return status === "pending" ? { dropped: false, deleted: 0, left: Number(a) } : { dropped: true, deleted: Number(a), left: Number(b) };
    },
  };
}

/**
 * Most bodies of a dropped projection deleted per call: a body costs Redis about 2 µs (ZRANGE,
 * ZMSCORE, UNLINK, ZREMRANGEBYRANK), so a call stays a few ms, and some 10 ms on a loaded 2-core
 * machine, well under the 50 ms goal (bench/drop.bench.ts measures the longest call). 1,000,000
 * stored take 1,000 calls, a few seconds.
 */
export const DROP_BUDGET = 1_000;

/** lua/transactions/deleteDroppedTransactions-4.lua: deletes up to `budget` bodies of a dropped projection. */
export function deleteDroppedTransactions(config: Prefixed, budget = DROP_BUDGET): ScriptCall<{ deleted: number; left: number }> {
  return {
    name: "deleteDroppedTransactions",
    keys: [txDroppedKey(config), txByTimeKey(config), txBodyPrefix(config), versionKey(config, spec)],
    args: [budget],
    parse: (reply) => {
      const [deleted = 0, left = 0] = numbers(reply);
      return { deleted, left };
    },
  };
}

/** Deletes the bodies an earlier drop set aside, a budget a call, `onCall` between calls; returns the bodies deleted. */
export async function finishDrops(redis: Redis, config: Prefixed, onCall?: () => Promise<void>): Promise<number> {
  let deleted = 0;
  for (;;) {
    const step = await run(redis, deleteDroppedTransactions(config));
    deleted += step.deleted;
    if (step.left === 0) return deleted;
    await onCall?.();
  }
}

/** First what an earlier drop left to delete, then the one atomic drop call, then the deletion of what it set aside. */
export const dropTransactionsProjection: DropProjection = async (redis, config, _shard, onCall) => {
  let deleted = 0;
  for (;;) {
    const drop = await run(redis, dropTransactions(config));
    if (drop.dropped) {
      deleted += drop.deleted;
      break;
    }
    deleted += await finishDrops(redis, config, onCall);
  }
  await onCall?.();
  return deleted + (await finishDrops(redis, config, onCall));
};
