/**
 * The transactions group's timer: trims while the feed is idle (lua/transactions/trimTransactions-3.lua),
 * and deletes what a drop killed part-way left.
 */
import type { Config } from "../../domain/config.ts";
import { WINDOW_BUDGET, WINDOW_MINUTES } from "../../domain/window.ts";
import { versionKey } from "../../redis/keys.ts";
import { clockArg, numbers, run, type ScriptCall, type Upkeep } from "../../redis/scripts.ts";
import { finishDrops } from "./drop.ts";
import { txBodyPrefix, txByTimeKey } from "./keys.ts";
import { spec } from "./spec.ts";

export interface TrimResult {
  removedByWindow: number;
  removedByCap: number;
  stored: number;
}

/** lua/transactions/trimTransactions-3.lua */
export function trimTransactions(config: Pick<Config, "REDIS_PREFIX" | "TX_CAP">, at?: number): ScriptCall<TrimResult> {
  return {
    name: "trimTransactions",
    keys: [txByTimeKey(config), txBodyPrefix(config), versionKey(config, spec)],
    args: [clockArg(at), WINDOW_MINUTES, config.TX_CAP, WINDOW_BUDGET],
    parse: (reply) => {
      const [removedByWindow = 0, removedByCap = 0, stored = 0] = numbers(reply);
      return { removedByWindow, removedByCap, stored };
    },
  };
}

export const TRIM_EVERY_MS = 10_000;

export const transactionsUpkeep: Upkeep = {
  everyMs: TRIM_EVERY_MS,
  run: async (redis, config) => {
    // What a drop killed part-way left to delete, in its short calls.
    await finishDrops(redis, config);
    for (;;) {
      const r = await run(redis, trimTransactions(config));
      if (r.removedByWindow + r.removedByCap === 0) return;
    }
  },
};
