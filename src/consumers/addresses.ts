/**
 * Group btc-address-values: each transaction adds its outputs to the value received by their
 * addresses and its inputs to the value sent, per minute and over the 3-hour window
 * (lua/applyAddresses-8.lua), once by hash; a timer moves the window on while the feed is idle
 * (lua/advanceAddressWindow-6.lua).
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import type { Transaction } from "../domain/transaction.ts";
import { type AddressRecord, addressRecordArgs, advanceAddressWindow, applyAddresses, run } from "../redis/scripts.ts";
import { chunkedApply, type GroupProcessor } from "./group.ts";

/** Per address, the sum of its values; null addresses, unknown values and zeros left out. */
function sums(entries: readonly { address: string | null; value: number | null }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const { address, value } of entries) {
    if (address === null || value === null || value <= 0) continue;
    out.set(address, (out.get(address) ?? 0) + value);
  }
  return out;
}

/** What one transaction adds, per side: address -> satoshi. */
export const addressRecord = (tx: Transaction): AddressRecord => ({ hash: tx.hash, time: tx.time, received: sums(tx.outputs), sent: sums(tx.inputs) });

/** Moves the window to now, as many calls as it takes (each bounded); returns the entries subtracted. */
export async function advanceWindow(redis: Redis, config: Pick<Config, "REDIS_PREFIX">, at?: number): Promise<number> {
  let subtracted = 0;
  for (;;) {
    const result = await run(redis, advanceAddressWindow(config, at));
    subtracted += result.subtracted;
    if (!result.waiting) return subtracted;
  }
}

/**
 * How often the window is moved on: the totals include a minute that has just left the window
 * for at most this long (the API reads them as they are).
 */
export const ADVANCE_EVERY_MS = 5_000;

export function addressesGroup(config: Pick<Config, "REDIS_PREFIX">): GroupProcessor {
  return {
    role: "addresses",
    apply: chunkedApply(addressRecord, addressRecordArgs, (stretch, records) => applyAddresses(config, stretch, records)),
    tick: async (redis) => {
      await advanceWindow(redis, config);
    },
    tickEveryMs: ADVANCE_EVERY_MS,
  };
}
