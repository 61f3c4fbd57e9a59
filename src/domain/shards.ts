/**
 * Shards of the address projection (ADDRESS_SHARDS): each a whole projection of the log restricted
 * to its addresses, with its own consumer group, position and `seen` set, under a Redis hash tag
 * of its own (src/redis/keys.ts), so a Redis Cluster can hold the shards on different masters
 * while each script call still touches one slot.
 */
import calculateSlot from "cluster-key-slot";
import type { Config } from "./config.ts";

/**
 * One of the `of` parts of a projection, each under a hash tag of its own, hence in one Redis
 * Cluster slot of its own. Only the address projection is sharded (ADDRESS_SHARDS); a shard is a
 * whole projection of the log restricted to its addresses, with its own consumer group, position
 * and `seen` set, so each script call still touches one slot. `{ index: 0, of: 1 }` is the
 * unsharded projection, under the deployment's tag.
 */
export interface Shard {
  readonly index: number;
  readonly of: number;
}
export const WHOLE: Shard = { index: 0, of: 1 };

/** The shards of the address projection that ADDRESS_SHARDS asks for (one, WHOLE, by default). */
export const addressShards = (config: Partial<Pick<Config, "ADDRESS_SHARDS">>): Shard[] => {
  const of = config.ADDRESS_SHARDS ?? 1;
  return of === 1 ? [WHOLE] : Array.from({ length: of }, (_, index) => ({ index, of }));
};

/** The shard that holds `address`: its CRC16 (as Redis Cluster hashes keys) mod the number of shards. */
export const shardOf = (address: string, of: number): number => (of === 1 ? 0 : calculateSlot(address) % of);
