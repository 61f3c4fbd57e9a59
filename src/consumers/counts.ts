/**
 * Group btc-minute-counts: each transaction adds 1 and its value (sum of outputs) to its event
 * minute and its event hour (lua/applyCounts-3.lua), once.
 */
import type { Config } from "../config.ts";
import { applyCounts, type CountsRecord, runAll, type ScriptCall, type ApplyResult } from "../redis/scripts.ts";
import type { Transaction } from "../transaction.ts";
import { chunkByArgs, type GroupProcessor, sumResults } from "./group.ts";
import { fingerprint, seenBucket } from "./state.ts";

export const countsRecord = (tx: Transaction): CountsRecord => ({ time: tx.time, bucket: seenBucket(tx.hash), fp: fingerprint(tx.hash), value: tx.value });

/** The script calls for a batch (pure). */
export function countsCalls(config: Pick<Config, "REDIS_PREFIX">, txs: readonly Transaction[], nowSec: number): ScriptCall<ApplyResult>[] {
  return chunkByArgs(txs.map(countsRecord), () => 4).map((records) => applyCounts(config, nowSec, records));
}

export function countsGroup(config: Pick<Config, "REDIS_PREFIX">): GroupProcessor {
  return {
    role: "counts",
    apply: async (redis, txs, nowSec) => sumResults(await runAll(redis, countsCalls(config, txs, nowSec))),
  };
}
