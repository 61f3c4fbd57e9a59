/**
 * Dropping a group's projection without blocking Redis (`bun run rebuild`, and a consumer that
 * finds its projection built from another log): the group's one short atomic drop call
 * (lua/drop<Group>-N.lua), then, for the transactions group, the deletion of the bodies that call
 * set aside, DROP_BUDGET a call (lua/deleteDroppedTransactions-3.lua). Every call is short, so
 * Redis answers the API's reads between them. The group is dropped and replaying from the first
 * call on; a drop stopped after it leaves bodies that the next drop deletes before it drops
 * anything (`finishDrops`).
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import type { Shard } from "../domain/shards.ts";
import type { StateRole } from "./keys.ts";
import { deleteDroppedTransactions, dropProjection, run } from "./scripts.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** Deletes the bodies an earlier drop set aside, a budget a call, `onCall` between calls; returns the bodies deleted. */
export async function finishDrops(redis: Redis, config: Prefixed, onCall?: () => Promise<void>): Promise<number> {
  let deleted = 0;
  for (;;) {
    const step = await run(redis, deleteDroppedTransactions(config));
    deleted += step.deleted;
    if (step.left === 0) return deleted;
    await onCall?.();
  }
}

/**
 * Drops one projection (or shard of it): first what an earlier drop left to delete, then its one
 * atomic drop call, then the deletion of what that call set aside. `onCall` runs between calls
 * (tests read there, the benchmark times them). Returns the keys deleted.
 */
export async function dropGroup(redis: Redis, config: Prefixed, role: StateRole, shard?: Shard, onCall?: () => Promise<void>): Promise<number> {
  let deleted = 0;
  for (;;) {
    const drop = await run(redis, dropProjection(config, role, shard));
    if (drop.dropped) {
      deleted += drop.deleted;
      break;
    }
    deleted += await finishDrops(redis, config, onCall);
  }
  // Only the transactions group sets keys aside.
  if (role === "transactions") {
    await onCall?.();
    deleted += await finishDrops(redis, config, onCall);
  }
  return deleted;
}
