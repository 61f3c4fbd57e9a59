/** Drops the address projection, or one shard of it, in one atomic call (lua/addresses/dropAddresses-10.lua). */
import type { Config } from "../../domain/config.ts";
import { type Shard, WHOLE } from "../../domain/shards.ts";
import { positionKey, replayKey, seenKey, versionKey } from "../../redis/keys.ts";
import { type DropProjection, run, type ScriptCall } from "../../redis/scripts.ts";
import { windowKeys } from "./keys.ts";
import { spec } from "./spec.ts";

/** lua/addresses/dropAddresses-10.lua: the keys it deleted. */
export function dropAddresses(config: Pick<Config, "REDIS_PREFIX">, shard: Shard = WHOLE): ScriptCall<number> {
  return {
    name: "dropAddresses",
    keys: [...windowKeys(config, shard), seenKey(config, spec, shard), positionKey(config, spec, shard), replayKey(config, spec, shard), versionKey(config, spec, shard)],
    args: [],
    parse: Number,
  };
}

export const dropAddressesProjection: DropProjection = (redis, config, shard) => run(redis, dropAddresses(config, shard));
