/** Drops the counts projection in one atomic call (lua/counts/dropCounts-6.lua): every bucket that can still exist, found from the clock. */
import type { Config } from "../../domain/config.ts";
import { MAX_AHEAD_SECONDS } from "../../domain/window.ts";
import { positionKey, replayKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type DropProjection, run, type ScriptCall } from "../../redis/scripts.ts";
import { countsHourPrefix, countsMinutePrefix } from "./keys.ts";
import { HOUR_BUCKET_KEEP_SECONDS, MINUTE_BUCKET_KEEP_SECONDS, spec } from "./spec.ts";

/** lua/counts/dropCounts-6.lua: the keys it deleted. */
export function dropCounts(config: Pick<Config, "REDIS_PREFIX">): ScriptCall<number> {
  return {
    name: "dropCounts",
    keys: [countsMinutePrefix(config), countsHourPrefix(config), seenKey(config, spec), positionKey(config, spec), replayKey(config, spec), versionKey(config, spec)],
    args: ["", MINUTE_BUCKET_KEEP_SECONDS, HOUR_BUCKET_KEEP_SECONDS, 2 * MAX_AHEAD_SECONDS],
    parse: Number,
  };
}

export const dropCountsProjection: DropProjection = (redis, config) => run(redis, dropCounts(config));
