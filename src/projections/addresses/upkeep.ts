/**
 * The address window moved on while the feed is idle (lua/addresses/advanceAddressWindow-7.lua),
 * every few seconds, by each shard's consumers.
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import { type Shard, WHOLE } from "../../domain/shards.ts";
import { WINDOW_BUDGET, WINDOW_MINUTES } from "../../domain/window.ts";
import { versionKey } from "../../redis/keys.ts";
import { clockArg, numbers, run, type ScriptCall, type Upkeep } from "../../redis/scripts.ts";
import { windowKeys } from "./keys.ts";
import { spec } from "./spec.ts";

export interface AdvanceResult {
  /** The window start (unix s). */
  windowStart: number;
  /** Minute-set entries subtracted by this call. */
  subtracted: number;
  /** Expired entries are still waiting (call again). */
  waiting: boolean;
}

/** lua/addresses/advanceAddressWindow-7.lua */
export function advanceAddressWindow(config: Pick<Config, "REDIS_PREFIX">, at?: number, budget = WINDOW_BUDGET, shard: Shard = WHOLE): ScriptCall<AdvanceResult> {
  return {
    name: "advanceAddressWindow",
    keys: [...windowKeys(config, shard), versionKey(config, spec, shard)],
    args: [clockArg(at), WINDOW_MINUTES, budget],
    parse: (reply) => {
      const [windowStart = 0, subtracted = 0, waiting = 0] = numbers(reply);
      return { windowStart, subtracted, waiting: waiting === 1 };
    },
  };
}

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

export const addressesUpkeep: Upkeep = {
  everyMs: ADVANCE_EVERY_MS,
  run: async (redis, config, shard) => {
    await advanceWindow(redis, config, undefined, shard);
  },
};
