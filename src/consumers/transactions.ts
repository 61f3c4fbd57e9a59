/**
 * Group btc-transactions: each transaction is stored once, as a compact body (body.ts), for the
 * 3-hour window and within TX_CAP (lua/applyTransactions-3.lua); a timer trims while the feed is
 * idle (lua/trimTransactions-2.lua).
 */
import type { Config } from "../config.ts";
import { applyTransactions, type ApplyResult, run, runAll, type ScriptCall, type TransactionRecord, trimTransactions } from "../redis/scripts.ts";
import type { Transaction } from "../transaction.ts";
import { encodeBody } from "./body.ts";
import { chunkByArgs, type GroupProcessor, sumResults } from "./group.ts";
import { fingerprint, seenBucket } from "./state.ts";

type TxConfig = Pick<Config, "REDIS_PREFIX" | "TX_CAP">;

export const transactionRecord = (tx: Transaction): TransactionRecord => ({ time: tx.time, bucket: seenBucket(tx.hash), fp: fingerprint(tx.hash), body: encodeBody(tx) });

/** The script calls for a batch (pure). */
export function transactionsCalls(config: TxConfig, txs: readonly Transaction[], nowSec: number): ScriptCall<ApplyResult>[] {
  return chunkByArgs(txs.map(transactionRecord), () => 4).map((records) => applyTransactions(config, nowSec, records));
}

export const TRIM_EVERY_MS = 10_000;

export function transactionsGroup(config: TxConfig): GroupProcessor {
  return {
    role: "transactions",
    apply: async (redis, txs, nowSec) => sumResults(await runAll(redis, transactionsCalls(config, txs, nowSec))),
    tick: async (redis, nowSec) => {
      await run(redis, trimTransactions(config, nowSec));
    },
    tickEveryMs: TRIM_EVERY_MS,
  };
}
