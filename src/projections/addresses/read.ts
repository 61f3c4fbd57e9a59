/**
 * Reads of the address projection: the top N addresses received / sent over the 3 hours, one
 * round trip per shard, O(log A + N).
 */
import { Type } from "@sinclair/typebox";
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import { shardsOf } from "../../domain/projection.ts";
import { type Shard, WHOLE } from "../../domain/shards.ts";
import { addrTotalKey, type Side } from "./keys.ts";
import { spec } from "./spec.ts";

/** An address and its total on one side over the window: what `topAddresses` reads, and a row of GET /high_value_addr. */
export const AddressTotal = Type.Object(
  {
    address: Type.String({ description: "bitcoin address", example: "35wEodJ1x64uUy3PkenD1gT3tnrHhQSNTG" }),
    total_value: Type.Integer({ minimum: 0, description: "aggregate value over the window, satoshi", example: 1790000 }),
  },
  { title: "AddressTotal" },
);
export type AddressTotal = typeof AddressTotal.static;

/**
 * The `limit` addresses with the highest total on `side` over the window, highest first (ties by
 * address, as Redis orders them). ZREVRANGE: O(log A + limit), A = addresses in the window. The
 * window is as the addresses group last moved it (every few seconds, ./upkeep.ts).
 *
 * With the projection in shards, each shard's top `limit` is read (one round trip each, in
 * parallel) and merged. That is exact: an address lives in one shard only, so its total there is
 * its whole total; and an address of the global top `limit` has fewer than `limit` addresses
 * above it anywhere, so fewer in its own shard, so it is in its shard's top `limit`.
 */
export async function topAddresses(
  redis: Redis,
  config: Pick<Config, "REDIS_PREFIX"> & Partial<Pick<Config, "ADDRESS_SHARDS">>,
  side: Side,
  limit: number,
): Promise<AddressTotal[]> {
  if (limit <= 0) return [];
  const read = async (shard: Shard) => {
    const flat = await redis.zrevrange(addrTotalKey(config, side, shard), 0, limit - 1, "WITHSCORES");
    const out: AddressTotal[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ address: flat[i] as string, total_value: Number(flat[i + 1]) });
    return out;
  };
  const shards = shardsOf(spec, config);
  if (shards.length === 1) return read(WHOLE);
  const all = (await Promise.all(shards.map(read))).flat();
  // Redis's order: the total, highest first; equal totals by address, last first (ZREVRANGE).
  all.sort((a, b) => b.total_value - a.total_value || (a.address < b.address ? 1 : a.address > b.address ? -1 : 0));
  return all.slice(0, limit);
}
