/**
 * Group btc-minute-counts: each transaction adds 1 and its value (sum of outputs) to its event
 * minute and its event hour (lua/applyCounts-4.lua), once by hash.
 */
import type { Config } from "../domain/config.ts";
import { applyCounts } from "../redis/scripts.ts";
import { chunkedApply, type GroupProcessor } from "./group.ts";

export function countsGroup(config: Pick<Config, "REDIS_PREFIX">): GroupProcessor {
  return {
    role: "counts",
    apply: chunkedApply(
      (tx) => ({ hash: tx.hash, time: tx.time, value: tx.value }),
      () => 3,
      (stretch, records) => applyCounts(config, stretch, records),
    ),
  };
}
