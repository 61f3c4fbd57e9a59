/**
 * `bun run rebuild`: a group's projection recomputed from the Kafka log, on a live pipeline.
 *
 * Per chosen group (default every projection it is given: the registry, src/projections/registry.ts):
 * the projection's drop (its folder's `drop.ts`, one short atomic script call, lua/<name>/drop*.lua)
 * deletes the group's projection, its position in the log included. The group's running consumers notice (on their next batch, or within
 * POSITION_WATCH_MS when idle) that Redis holds no position, and replay the log into the empty
 * projection by themselves (src/consumers/positions.ts).
 *
 * No call blocks Redis for long: a projection that holds many keys (the transactions' stored
 * bodies, 1,000,000 by TX_CAP's default) sets them aside in that call and deletes them afterwards
 * in short calls; API reads are answered between the calls. The rebuild then only reports the consumers' progress, read from
 * Redis, until they are level with the log.
 *
 * A rebuild killed at any point leaves a group either untouched or dropped and replaying, never
 * stopped: the drop is one call. Bodies it had not deleted yet are deleted by the next rebuild
 * before it drops anything (or expire with their TTL, within the window).
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import { type GroupRole, type ProjectionSpec, shardsOf } from "../domain/projection.ts";
import { groupId } from "../kafka/client.ts";
import { groupProgress, replayLeft, replayTotal } from "../redis/read.ts";
import type { DropProjection } from "../redis/scripts.ts";

/** A projection as rebuild knows it: its spec and its drop. */
export interface RebuildProjection extends ProjectionSpec {
  readonly drop: DropProjection;
}

export interface RebuildProgress {
  role: GroupRole;
  group: string;
  /** Records replayed so far, of `total` (known once every partition's replay started). */
  replayed: number;
  total: number;
  /** Partitions whose replay started, of `partitions`. */
  started: number;
  partitions: number;
  done: boolean;
}

export interface RebuildResult {
  role: GroupRole;
  group: string;
  /** Redis keys the drop deleted. */
  deletedKeys: number;
  /** Records replayed, when the rebuild waited for the replay. */
  replayed: number;
  /** False when no consumer started the replay within `startTimeoutMs` (the projection stays empty until one runs). */
  replaying: boolean;
  ms: number;
}

export interface RebuildOptions {
  config: Config;
  redis: Redis;
  /** Every projection (the registry). */
  projections: readonly RebuildProjection[];
  /** Groups to rebuild, in this order; default every projection, in the registry's order. */
  roles?: readonly GroupRole[];
  /** Partitions of the topic: the rebuild waits until each has a position again. */
  partitions: number;
  /** Called every `progressEveryMs` while the consumers replay, and once when a group is level. */
  onProgress?: (p: RebuildProgress) => void;
  progressEveryMs?: number;
  /** How long to wait for a consumer to start replaying a dropped group. */
  startTimeoutMs?: number;
  /** Stops the wait (the replay goes on in the consumers). */
  signal?: AbortSignal;
}

export const START_TIMEOUT_MS = 30_000;

/** Drops the projection of each chosen group, then reports the consumers' replay until it is level. */
export async function rebuild(options: RebuildOptions): Promise<RebuildResult[]> {
  const { config, redis } = options;
  const chosen = options.roles?.length ? [...new Set(options.roles)] : options.projections.map((p) => p.role);
  const results: RebuildResult[] = [];
  for (const role of chosen) {
    const projection = options.projections.find((p) => p.role === role);
    if (!projection) throw new Error(`rebuild: no projection ${JSON.stringify(role)}; the projections: ${options.projections.map((p) => p.role).join(", ")}`);
    const started = Date.now();
    // Its drop per shard: a shard of a sharded projection is a projection of its own.
    let deletedKeys = 0;
    for (const shard of shardsOf(projection, config)) deletedKeys += await projection.drop(redis, config, shard);
    const group = groupId(config, projection);
    let last: RebuildProgress = { role, group, replayed: 0, total: 0, started: 0, partitions: options.partitions, done: false };
    let lastReport = 0;
    for (;;) {
      const p = await groupProgress(redis, config, projection);
      const total = replayTotal(p);
      const startedParts = p.replayUntil.size;
      last = {
        role,
        group,
        replayed: total - replayLeft(p),
        total,
        started: startedParts,
        partitions: options.partitions,
        done: startedParts >= options.partitions && replayLeft(p) === 0,
      };
      if (last.done || options.signal?.aborted) break;
      if (startedParts === 0 && Date.now() - started > (options.startTimeoutMs ?? START_TIMEOUT_MS)) break;
      if (Date.now() - lastReport >= (options.progressEveryMs ?? 1_000)) {
        lastReport = Date.now();
        options.onProgress?.(last);
      }
      await Bun.sleep(200);
    }
    options.onProgress?.(last);
    results.push({ role, group, deletedKeys, replayed: last.replayed, replaying: last.started > 0, ms: Date.now() - started });
  }
  return results;
}
