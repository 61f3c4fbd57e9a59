/**
 * Fills the projections straight from transactions, without Kafka: what the consumer groups would
 * write for them, through the same scripts and each projection's own record mapping (its
 * `apply`), with no log position (NO_POSITION). Nothing here is per projection: it enumerates the
 * registry. `at` places the calls at a chosen time (unix seconds) instead of Redis's clock, for
 * tests that pin the window.
 */
import type Redis from "ioredis";
import { applyCalls, type ConsumerProjection } from "../../src/consumers/group.ts";
import type { Config } from "../../src/domain/config.ts";
import type { GroupRole } from "../../src/domain/projection.ts";
import { WHOLE } from "../../src/domain/shards.ts";
import type { Transaction } from "../../src/domain/transaction.ts";
import { advanceWindow } from "../../src/projections/addresses/upkeep.ts";
import { PROJECTIONS, projectionOf } from "../../src/projections/registry.ts";
import { defineScripts } from "../../src/redis/loader.ts";
import { type Applied, type ApplyResult, NO_POSITION, runAll, type ScriptCall } from "../../src/redis/scripts.ts";

type FillConfig = Pick<Config, "REDIS_PREFIX" | "TX_CAP">;

/** The projection of `role`, or an error naming the roles. */
const projection = (role: GroupRole): ConsumerProjection => {
  const found = projectionOf(role);
  if (!found) throw new Error(`fill: no projection ${JSON.stringify(role)}`);
  return found;
};

/** The script calls that apply `txs` for one projection, whole (pure); transactions it refuses are left out, as its consumers dead-letter them. */
export function fillCalls(config: FillConfig, role: GroupRole, txs: readonly Transaction[], at?: number): ScriptCall<Applied<ApplyResult>>[] {
  const { apply } = projection(role);
  const records = txs.filter((tx) => (apply.refuse?.(tx) ?? null) === null).map((tx) => ({ tx, offset: "" }));
  return applyCalls(apply, config as Config, records, NO_POSITION, WHOLE, at);
}

/**
 * Applies `txs` for the chosen projections (default every one of the registry); returns each
 * projection's figures summed over its calls, by role.
 */
export async function fill(
  redis: Redis,
  config: FillConfig,
  txs: readonly Transaction[],
  options: { at?: number; roles?: readonly GroupRole[] } = {},
): Promise<Record<GroupRole, ApplyResult>> {
  defineScripts(redis);
  const out: Record<GroupRole, ApplyResult> = {};
  for (const role of options.roles ?? PROJECTIONS.map((p) => p.role)) {
    const total: ApplyResult = { applied: 0, duplicates: 0, stale: 0 };
    for (const reply of await runAll(redis, fillCalls(config, role, txs, options.at))) {
      if (reply.status !== "applied") throw new Error(`fill ${role}: refused (${reply.status})`);
      total.applied += reply.applied;
      total.duplicates += reply.duplicates;
      total.stale += reply.stale;
    }
    out[role] = total;
  }
  return out;
}

/** Moves the address window to `at` (or Redis's now). */
export const moveWindow = (redis: Redis, config: FillConfig, at?: number) => advanceWindow(defineScripts(redis), config, at);
