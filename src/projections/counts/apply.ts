/**
 * Each transaction adds 1 and its value (sum of outputs) to its event minute and its event hour
 * (lua/counts/applyCounts-5.lua), once by hash.
 */
import type { Config } from "../../domain/config.ts";
import { seenKeepSeconds } from "../../domain/projection.ts";
import { positionKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type Applied, type ApplyMapping, type ApplyResult, type Arg, applied, applyFigures, clockArg, type ScriptCall, type Stretch, stretchArgs } from "../../redis/scripts.ts";
import { countsHourPrefix, countsMinutePrefix } from "./keys.ts";
import { HOUR_BUCKET_KEEP_SECONDS, MINUTE_BUCKET_KEEP_SECONDS, spec } from "./spec.ts";

/** What the script takes of a transaction. */
export interface CountRecord {
  hash: string;
  time: number;
  value: number;
}

/** lua/counts/applyCounts-5.lua: per transaction, its hash, time and value. */
export function applyCounts(config: Pick<Config, "REDIS_PREFIX">, stretch: Stretch, records: readonly CountRecord[], at?: number): ScriptCall<Applied<ApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), MINUTE_BUCKET_KEEP_SECONDS, HOUR_BUCKET_KEEP_SECONDS, seenKeepSeconds(spec)];
  for (const r of records) args.push(r.hash, r.time, r.value);
  return {
    name: "applyCounts",
    keys: [countsMinutePrefix(config), countsHourPrefix(config), seenKey(config, spec), positionKey(config, spec), versionKey(config, spec)],
    args,
    parse: (reply) => applied(reply, applyFigures),
  };
}

export const countsApply: ApplyMapping<CountRecord> = {
  record: (tx) => ({ hash: tx.hash, time: tx.time, value: tx.value }),
  args: () => 3,
  call: (config, stretch, records, _shard, at) => applyCounts(config, stretch, records, at),
};
