/**
 * Fills the projections straight from transactions, without Kafka: what the consumer groups would
 * write for them, through the same scripts, with no log position (NO_POSITION). `at` places the
 * calls at a chosen time (unix seconds) instead of Redis's clock, for tests that pin the window.
 */
import type Redis from "ioredis";
import { addressRecord, advanceWindow } from "../../src/consumers/addresses.ts";
import { chunkStretch } from "../../src/consumers/group.ts";
import type { Config } from "../../src/domain/config.ts";
import { type GroupRole, ROLES } from "../../src/domain/groups.ts";
import type { Transaction } from "../../src/domain/transaction.ts";
import { defineScripts } from "../../src/redis/loader.ts";
import {
  type Applied,
  type ApplyResult,
  addressRecordArgs,
  applyAddresses,
  applyCounts,
  applyTransactions,
  NO_POSITION,
  runAll,
  type ScriptCall,
} from "../../src/redis/scripts.ts";

type FillConfig = Pick<Config, "REDIS_PREFIX" | "TX_CAP">;

/** The script calls that apply `txs` for one group (pure). */
export function fillCalls(config: FillConfig, role: GroupRole, txs: readonly Transaction[], at?: number): ScriptCall<Applied<ApplyResult>>[] {
  const chunk = <R>(records: R[], argsOf: (r: R) => number) => chunkStretch(records, () => "", argsOf, NO_POSITION).map((c) => c.records);
  switch (role) {
    case "counts":
      return chunk([...txs], () => 3).map((c) => applyCounts(config, NO_POSITION, c, at));
    case "addresses":
      return chunk(txs.map(addressRecord), addressRecordArgs).map((c) => applyAddresses(config, NO_POSITION, c, at));
    case "transactions":
      return chunk([...txs], () => 3).map((c) => applyTransactions(config, NO_POSITION, c, at));
  }
}

/** Applies `txs` for the chosen groups (default all three); returns the figures summed over every call. */
export async function fill(redis: Redis, config: FillConfig, txs: readonly Transaction[], options: { at?: number; roles?: readonly GroupRole[] } = {}): Promise<ApplyResult> {
  defineScripts(redis);
  const total: ApplyResult = { applied: 0, duplicates: 0, stale: 0 };
  for (const role of options.roles ?? ROLES) {
    for (const reply of await runAll(redis, fillCalls(config, role, txs, options.at))) {
      if (reply.status !== "applied") throw new Error(`fill ${role}: refused (${reply.status})`);
      if (role === "counts") {
        total.applied += reply.applied;
        total.duplicates += reply.duplicates;
        total.stale += reply.stale;
      }
    }
  }
  return total;
}

/** Moves the address window to `at` (or Redis's now). */
export const moveWindow = (redis: Redis, config: FillConfig, at?: number) => advanceWindow(defineScripts(redis), config, at);
