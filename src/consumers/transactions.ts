/**
 * Group btc-transactions: each transaction is stored once by hash, as the JSON the API serves,
 * for the 3-hour window and within TX_CAP (lua/applyTransactions-4.lua); a timer trims while the
 * feed is idle (lua/trimTransactions-2.lua), and deletes what a drop killed part-way left.
 */
import type { Config } from "../domain/config.ts";
import { finishDrops } from "../redis/drop.ts";
import { applyTransactions, run, trimTransactions } from "../redis/scripts.ts";
import { chunkedApply, type GroupProcessor } from "./group.ts";

export const TRIM_EVERY_MS = 10_000;

export function transactionsGroup(config: Pick<Config, "REDIS_PREFIX" | "TX_CAP">): GroupProcessor {
  return {
    role: "transactions",
    apply: chunkedApply(
      (tx) => tx,
      () => 3,
      (stretch, records) => applyTransactions(config, stretch, records),
    ),
    tick: async (redis) => {
      // What a drop killed part-way left to delete, in its short calls.
      await finishDrops(redis, config);
      for (;;) {
        const r = await run(redis, trimTransactions(config));
        if (r.removedByWindow + r.removedByCap === 0) return;
      }
    },
    tickEveryMs: TRIM_EVERY_MS,
  };
}
