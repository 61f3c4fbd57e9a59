/**
 * Each transaction adds its outputs to the value received by their addresses and its inputs to
 * the value sent, per minute and over the 3-hour window (lua/addresses/applyAddresses-9.lua), once
 * by hash. A shard takes only its own addresses, and records every transaction's hash.
 */
import type { Config } from "../../domain/config.ts";
import { seenKeepSeconds } from "../../domain/projection.ts";
import { type Shard, shardOf, WHOLE } from "../../domain/shards.ts";
import type { Transaction } from "../../domain/transaction.ts";
import { WINDOW_BUDGET, WINDOW_MINUTES } from "../../domain/window.ts";
import { positionKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type Applied, type ApplyMapping, type ApplyResult, type Arg, applied, clockArg, type ScriptCall, type Stretch, stretchArgs } from "../../redis/scripts.ts";
import { windowKeys } from "./keys.ts";
import { spec } from "./spec.ts";

/** One transaction for applyAddresses: per side, address -> satoshi. */
export interface AddressRecord {
  hash: string;
  time: number;
  received: ReadonlyMap<string, number>;
  sent: ReadonlyMap<string, number>;
}

export interface AddressApplyResult extends ApplyResult {
  /** The window start (unix s) after this call. */
  windowStart: number;
}

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

/** Arguments one transaction takes in applyAddresses. */
export const addressRecordArgs = (r: AddressRecord) => 4 + 2 * (r.received.size + r.sent.size);

/** lua/addresses/applyAddresses-9.lua, into the projection or one of its shards (its records hold only the shard's addresses). */
export function applyAddresses(
  config: Pick<Config, "REDIS_PREFIX">,
  stretch: Stretch,
  records: readonly AddressRecord[],
  at?: number,
  shard: Shard = WHOLE,
): ScriptCall<Applied<AddressApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), WINDOW_MINUTES, seenKeepSeconds(spec), WINDOW_BUDGET];
  for (const r of records) {
    args.push(r.hash, r.time, r.received.size, r.sent.size);
    for (const [address, value] of r.received) args.push(address, value);
    for (const [address, value] of r.sent) args.push(address, value);
  }
  return {
    name: "applyAddresses",
    keys: [...windowKeys(config, shard), seenKey(config, spec, shard), positionKey(config, spec, shard), versionKey(config, spec, shard)],
    args,
    parse: (reply) => applied(reply, ([applied = 0, duplicates = 0, stale = 0, windowStart = 0]) => ({ applied, duplicates, stale, windowStart })),
  };
}

export const addressesApply: ApplyMapping<AddressRecord> = {
  record: (tx, shard) => shardRecord(shard)(tx),
  args: addressRecordArgs,
  call: (config, stretch, records, shard, at) => applyAddresses(config, stretch, records, at, shard),
};
