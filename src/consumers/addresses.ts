/**
 * Group btc-address-values: each transaction adds its outputs to the value received by their
 * addresses and its inputs to the value sent, per minute and over the 3-hour window
 * (lua/applyAddresses-8.lua), once by hash; a timer moves the window on while the feed is idle
 * (lua/advanceAddressWindow-6.lua).
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import { type Shard, shardOf, WHOLE } from "../domain/shards.ts";
import type { Transaction } from "../domain/transaction.ts";
import { type AddressRecord, addressRecordArgs, advanceAddressWindow, applyAddresses, run } from "../redis/scripts.ts";
import { chunkedApply, type GroupProcessor } from "./group.ts";

/** Per address of `shard`, the sum of its values; null addresses, unknown values and zeros left out. */
function sums(entries: readonly { address: string | null; value: number | null }[], shard: Shard): Map<string, number> {
  const out = new Map<string, number>();
  for (const { address, value } of entries) {
    if (address === null || value === null || value <= 0) continue;
    if (shard.of > 1 && shardOf(address, shard.of) !== shard.index) continue;
    out.set(address, (out.get(address) ?? 0) + value);
  }
  return out;
}

/**
 * What one transaction adds to `shard`, per side: address -> satoshi of the shard's addresses. A
 * shard records every transaction's hash, with or without addresses of its own: it is a whole
 * projection of the log, and counts each transaction once.
 */
export const shardRecord =
  (shard: Shard) =>
  (tx: Transaction): AddressRecord => ({ hash: tx.hash, time: tx.time, received: sums(tx.outputs, shard), sent: sums(tx.inputs, shard) });

/** What one transaction adds, per side: address -> satoshi. */
export const addressRecord = shardRecord(WHOLE);

/** Moves the window to now, as many calls as it takes (each bounded); returns the entries subtracted. */
export async function advanceWindow(redis: Redis, config: Pick<Config, "REDIS_PREFIX">, at?: number, shard: Shard = WHOLE): Promise<number> {
  let subtracted = 0;
  for (;;) {
    const result = await run(redis, advanceAddressWindow(config, at, undefined, shard));
    subtracted += result.subtracted;
    if (!result.waiting) return subtracted;
  }
}

/**
 * How often the window is moved on: the totals include a minute that has just left the window
 * for at most this long (the API reads them as they are).
 */
export const ADVANCE_EVERY_MS = 5_000;

/** The address group's processor, for the whole projection or one of its shards. */
export function addressesGroup(config: Pick<Config, "REDIS_PREFIX">, shard: Shard = WHOLE): GroupProcessor {
  return {
    role: "addresses",
    shard,
    apply: chunkedApply(shardRecord(shard), addressRecordArgs, (stretch, records) => applyAddresses(config, stretch, records, undefined, shard)),
    tick: async (redis) => {
      await advanceWindow(redis, config, undefined, shard);
    },
    tickEveryMs: ADVANCE_EVERY_MS,
  };
}
