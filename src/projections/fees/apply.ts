/** Each transaction adds to its event minute's fee figures (lua/fees/applyFees-4.lua), once by hash. */
import type { Config } from "../../domain/config.ts";
import { seenKeepSeconds } from "../../domain/projection.ts";
import { positionKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type Applied, type ApplyMapping, type ApplyResult, type Arg, applied, applyFigures, clockArg, type ScriptCall, type Stretch, stretchArgs } from "../../redis/scripts.ts";
import { type FeeFigures, feeFigures, refusal } from "./bands.ts";
import { feeMinutePrefix } from "./keys.ts";
import { FEE_MINUTE_KEEP_SECONDS, spec } from "./spec.ts";

export type FeeRecord = FeeFigures & { hash: string; time: number };

/** lua/fees/applyFees-4.lua */
export function applyFees(config: Pick<Config, "REDIS_PREFIX">, stretch: Stretch, records: readonly FeeRecord[], at?: number): ScriptCall<Applied<ApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), FEE_MINUTE_KEEP_SECONDS, seenKeepSeconds(spec)];
  for (const r of records) args.push(r.hash, r.time, r.fee ?? "", r.vsize, r.rate ?? "", r.band ?? "");
  return {
    name: "applyFees",
    keys: [feeMinutePrefix(config), seenKey(config, spec), positionKey(config, spec), versionKey(config, spec)],
    args,
    parse: (reply) => applied(reply, applyFigures),
  };
}

export const feesApply: ApplyMapping<FeeRecord> = {
  refuse: refusal,
  record: (tx) => ({ hash: tx.hash, time: tx.time, ...feeFigures(tx) }),
  args: () => 6,
  call: (config, stretch, records, _shard, at) => applyFees(config, stretch, records, at),
};
