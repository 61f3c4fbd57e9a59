/**
 * Each transaction stored once by hash, as the JSON the API serves, for the 3-hour window and
 * within TX_CAP, and appended to the stream /stream reads (lua/transactions/applyTransactions-7.lua).
 */
import type { Config } from "../../domain/config.ts";
import { seenKeepSeconds } from "../../domain/projection.ts";
import { type TransactionView, viewJson } from "../../domain/transaction.ts";
import { SEEN_MARGIN_SECONDS, WINDOW_BUDGET, WINDOW_MINUTES } from "../../domain/window.ts";
import { positionKey, replayKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type Applied, type ApplyMapping, type ApplyResult, type Arg, applied, clockArg, type ScriptCall, type Stretch, stretchArgs } from "../../redis/scripts.ts";
import { txBodyPrefix, txByTimeKey, txStreamKey } from "./keys.ts";
import { spec } from "./spec.ts";
import type { TrimResult } from "./upkeep.ts";

/**
 * Most entries the transactions stream keeps (XADD MAXLEN ~, so a little more between trims):
 * about 20 s at 500 tx/s, what a /stream client can resume from (the API keeps the newest
 * 5,000 of them in memory too). An entry costs about twice its JSON body: with bodies of some
 * 420 B, 10,000 entries took 8.2 MB of Redis memory (MEMORY USAGE ... SAMPLES 0; README.md).
 */
export const STREAM_MAX = 10_000;

export type TransactionsApplyResult = ApplyResult & TrimResult;

/** lua/transactions/applyTransactions-7.lua: each transaction stored as its API view's JSON. */
export function applyTransactions(
  config: Pick<Config, "REDIS_PREFIX" | "TX_CAP">,
  stretch: Stretch,
  records: readonly TransactionView[],
  at?: number,
): ScriptCall<Applied<TransactionsApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), WINDOW_MINUTES, config.TX_CAP, SEEN_MARGIN_SECONDS, WINDOW_BUDGET, seenKeepSeconds(spec), STREAM_MAX];
  for (const r of records) args.push(r.hash, r.time, viewJson(r));
  return {
    name: "applyTransactions",
    keys: [txByTimeKey(config), txBodyPrefix(config), txStreamKey(config), replayKey(config, spec), seenKey(config, spec), positionKey(config, spec), versionKey(config, spec)],
    args,
    parse: (reply) =>
      applied(reply, ([applied = 0, duplicates = 0, stale = 0, removedByWindow = 0, removedByCap = 0, stored = 0]) => ({
        applied,
        duplicates,
        stale,
        removedByWindow,
        removedByCap,
        stored,
      })),
  };
}

export const transactionsApply: ApplyMapping<TransactionView> = {
  record: (tx) => tx,
  args: () => 3,
  call: (config, stretch, records, _shard, at) => applyTransactions(config, stretch, records, at),
};
