/**
 * Plants by hand what the consumers record of each partition in Redis (the position hash and the
 * replay hash: lua/startReplay-3.lua and the coverage the consumers advance), so a test can put
 * an API in front of any state of a projection: level with the log, replaying, behind, with a gap
 * or an error.
 */
import type Redis from "ioredis";
import type { Config } from "../../src/domain/config.ts";
import type { GroupRole, ProjectionSpec } from "../../src/domain/projection.ts";
import { type Shard, WHOLE } from "../../src/domain/shards.ts";
import { projectionOf } from "../../src/projections/registry.ts";
import { positionField, positionKey, replayKey, versionKey } from "../../src/redis/keys.ts";

/** One partition as the consumers record it; a field left out is not written (null deletes it). */
export interface PlantedPartition {
  position?: number | null;
  from?: number;
  until?: number;
  coversFromMs?: number;
  throughMs?: number;
  gaps?: [number, number][];
  error?: string;
}

type Prefixed = Pick<Config, "REDIS_PREFIX" | "TOPIC">;
/** A projection: its spec (anything with a namespace), or its role in the registry. */
type Named = GroupRole | Pick<ProjectionSpec, "namespace">;

/** The spec of `projection` (a role is looked up in the registry; an unknown one throws). */
function spaceOf(projection: Named): Pick<ProjectionSpec, "namespace"> {
  if (typeof projection !== "string") return projection;
  const found = projectionOf(projection);
  if (!found) throw new Error(`plant: no projection ${JSON.stringify(projection)} in the registry`);
  return found;
}

/** Writes `partitions[p]` for partition p of `projection` (one shard). */
export async function plant(redis: Redis, config: Prefixed, projection: Named, partitions: PlantedPartition[], shard: Shard = WHOLE): Promise<void> {
  const spec = spaceOf(projection);
  const positions = positionKey(config, spec, shard);
  const replay = replayKey(config, spec, shard);
  const tx = redis.multi();
  partitions.forEach((p, i) => {
    const field = positionField(config.TOPIC, i);
    if (p.position === null) tx.hdel(positions, field);
    else if (p.position !== undefined) tx.hset(positions, field, String(p.position));
    const fields: [string, string | undefined][] = [
      ["from", p.from?.toString()],
      ["until", p.until?.toString()],
      ["covers_from_ms", p.coversFromMs?.toString()],
      ["through_ms", p.throughMs?.toString()],
      ["gaps", p.gaps && JSON.stringify(p.gaps)],
      ["error", p.error],
    ];
    for (const [name, value] of fields) if (value !== undefined) tx.hset(replay, `${field}:${name}`, value);
  });
  // As the consumers' scripts do: a write moves the projection's version (INCR keeps it increasing, µs or not).
  tx.incr(versionKey(config, spec, shard));
  await tx.exec();
}

/** Every partition level with the log through `throughMs`, held since the log began. */
export const level = (throughMs: number, partitions = 3): PlantedPartition[] =>
  Array.from({ length: partitions }, () => ({ position: 10, from: 0, until: 10, coversFromMs: 0, throughMs }));

/** Forgets what Redis holds of `projection`'s partitions (one shard), its version with it, as a lost Redis does. */
export function forget(redis: Redis, config: Prefixed, projection: Named, shard: Shard = WHOLE) {
  const spec = spaceOf(projection);
  return redis.del(positionKey(config, spec, shard), replayKey(config, spec, shard), versionKey(config, spec, shard));
}
