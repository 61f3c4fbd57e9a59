/** Drops the fee projection in one atomic call (lua/fees/dropFees-5.lua): every minute that can still exist, found from the clock. */
import type { Config } from "../../domain/config.ts";
import { MAX_AHEAD_SECONDS } from "../../domain/window.ts";
import { positionKey, replayKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type DropProjection, run, type ScriptCall } from "../../redis/scripts.ts";
import { feeMinutePrefix } from "./keys.ts";
import { FEE_MINUTE_KEEP_SECONDS, spec } from "./spec.ts";

/** lua/fees/dropFees-5.lua: the keys it deleted. */
export function dropFees(config: Pick<Config, "REDIS_PREFIX">): ScriptCall<number> {
  return {
    name: "dropFees",
    keys: [feeMinutePrefix(config), seenKey(config, spec), positionKey(config, spec), replayKey(config, spec), versionKey(config, spec)],
    args: ["", FEE_MINUTE_KEEP_SECONDS, 2 * MAX_AHEAD_SECONDS],
    parse: Number,
  };
}

export const dropFeesProjection: DropProjection = (redis, config) => run(redis, dropFees(config));
