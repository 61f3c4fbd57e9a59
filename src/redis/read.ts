/**
 * The reads every projection shares, for the API, rebuild and tests. Times in and out are unix
 * milliseconds, UTC; values are satoshi. Key layout: docs/redis-keys.md. Reads never write: only
 * the consumers move the windows.
 *
 *   groupProgress        a group's positions, replay and coverage 1 round trip per shard
 *   producerHeldReports  what the producers hold                  1 HGETALL
 *   projectionVersion    a projection's version                  1 GET per shard
 *
 * Each projection reads its own figures in its folder (src/projections/<name>/read.ts).
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import type { HeldReport, PartitionCoverage } from "../domain/coverage.ts";
import { type ProjectionSpec, shardsOf } from "../domain/projection.ts";
import type { Shard } from "../domain/shards.ts";
import { positionKey, producerHeldKey, replayKey, versionKey } from "./keys.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;
/** A sharded projection's reads need to know the shards (ADDRESS_SHARDS; one when absent). */
type Sharded = Prefixed & Partial<Pick<Config, "ADDRESS_SHARDS">>;
type Spec = Pick<ProjectionSpec, "namespace" | "sharded">;

/** A group's projection: per partition, its position, the replay that started it and what it covers. */
export interface GroupProgress {
  /** "<topic>:<partition>" -> next offset; empty when Redis holds no position (a replay starts). */
  positions: Map<string, number>;
  /** "<topic>:<partition>" -> the offset the projection's replay started at. */
  replayFrom: Map<string, number>;
  /** "<topic>:<partition>" -> the log's end when the projection's replay started. */
  replayUntil: Map<string, number>;
  /** "<topic>:<partition>" -> since when (record stamp, unix ms) the projection holds that partition's records. */
  coversFromMs: Map<string, number>;
  /** "<topic>:<partition>" -> the projection holds every record of the partition stamped before it (unix ms). */
  throughMs: Map<string, number>;
  /** "<topic>:<partition>" -> stamps [from, to) of records the log lost before the group read them. */
  gaps: Map<string, [number, number][]>;
  /** "<topic>:<partition>" -> why the partition's consumer cannot apply its records (a key of the wrong type...). */
  errors: Map<string, string>;
}

const emptyProgress = (): GroupProgress => ({
  positions: new Map(),
  replayFrom: new Map(),
  replayUntil: new Map(),
  coversFromMs: new Map(),
  throughMs: new Map(),
  gaps: new Map(),
  errors: new Map(),
});

/** What the projection holds of one partition, for the completeness of an answer (src/domain/coverage.ts). */
export function partitionCoverage(progress: GroupProgress, field: string): PartitionCoverage {
  return {
    position: progress.positions.get(field) ?? null,
    replayUntil: progress.replayUntil.get(field) ?? null,
    coversFromMs: progress.coversFromMs.get(field) ?? null,
    throughMs: progress.throughMs.get(field) ?? null,
    gaps: progress.gaps.get(field) ?? [],
  };
}

/** Each shard's projection of a group, in the order of `shardsOf`. */
export function shardProgresses(redis: Redis, config: Sharded, spec: Spec): Promise<GroupProgress[]> {
  return Promise.all(shardsOf(spec, config).map((shard) => shardProgress(redis, config, spec, shard)));
}

/**
 * A group's projection. A projection in shards is as far as its slowest shard: per
 * partition the lowest position (none while a shard has none), the earliest replay start, the
 * latest replay end and coverage, the earliest `throughMs`, every gap and error.
 */
export async function groupProgress(redis: Redis, config: Sharded, spec: Spec): Promise<GroupProgress> {
  const parts = await shardProgresses(redis, config, spec);
  if (parts.length === 1) return parts[0] as GroupProgress;
  const out = emptyProgress();
  for (const field of (parts[0] as GroupProgress).positions.keys()) {
    const each = parts.map((p) => p.positions.get(field));
    if (each.every((o) => o !== undefined)) out.positions.set(field, Math.min(...(each as number[])));
  }
  const merge = <T>(pick: (p: GroupProgress) => Map<string, T>, into: Map<string, T>, keep: (a: T, b: T) => T) => {
    for (const p of parts) for (const [field, v] of pick(p)) into.set(field, into.has(field) ? keep(into.get(field) as T, v) : v);
  };
  merge((p) => p.replayFrom, out.replayFrom, Math.min);
  merge((p) => p.replayUntil, out.replayUntil, Math.max);
  merge((p) => p.coversFromMs, out.coversFromMs, Math.max);
  for (const field of (parts[0] as GroupProgress).throughMs.keys()) {
    const each = parts.map((p) => p.throughMs.get(field));
    if (each.every((t) => t !== undefined)) out.throughMs.set(field, Math.min(...(each as number[])));
  }
  merge(
    (p) => p.gaps,
    out.gaps,
    (a, b) => [...a, ...b],
  );
  merge(
    (p) => p.errors,
    out.errors,
    (a, b) => `${a}; ${b}`,
  );
  return out;
}

/** "[[from, to], ...]" as the consumers write it; anything else reads as no gap. */
function parseGaps(text: string): [number, number][] {
  try {
    const gaps = JSON.parse(text) as unknown;
    if (!Array.isArray(gaps)) return [];
    return gaps.filter((g): g is [number, number] => Array.isArray(g) && g.length === 2 && g.every(Number.isFinite));
  } catch {
    return [];
  }
}

async function shardProgress(redis: Redis, config: Prefixed, spec: Spec, shard: Shard): Promise<GroupProgress> {
  const [positions, replay] =
    (await redis
      .pipeline()
      .hgetall(positionKey(config, spec, shard))
      .hgetall(replayKey(config, spec, shard))
      .exec()) ?? [];
  if (positions?.[0]) throw positions[0];
  if (replay?.[0]) throw replay[0];
  const out = emptyProgress();
  for (const [field, offset] of Object.entries((positions?.[1] ?? {}) as Record<string, string>)) out.positions.set(field, Number(offset));
  const numbers: Record<string, Map<string, number>> = { from: out.replayFrom, until: out.replayUntil, covers_from_ms: out.coversFromMs, through_ms: out.throughMs };
  for (const [field, value] of Object.entries((replay?.[1] ?? {}) as Record<string, string>)) {
    const at = field.lastIndexOf(":");
    const [partition, name] = [field.slice(0, at), field.slice(at + 1)];
    if (name === "gaps") out.gaps.set(partition, parseGaps(value));
    else if (name === "error") out.errors.set(partition, value);
    else numbers[name]?.set(partition, Number(value));
  }
  return out;
}

/** Records the group has still to replay: the sum over partitions of the replay's end less the position. */
export function replayLeft(progress: GroupProgress): number {
  let left = 0;
  for (const [field, until] of progress.replayUntil) left += Math.max(0, until - (progress.positions.get(field) ?? 0));
  return left;
}

/** Records the replay had to apply when it started: the sum over partitions of its end less its start. */
export function replayTotal(progress: GroupProgress): number {
  let total = 0;
  for (const [field, until] of progress.replayUntil) total += Math.max(0, until - (progress.replayFrom.get(field) ?? until));
  return total;
}

/**
 * The producers' reports (src/redis/keys.ts producerHeldKey): what each holds, fresh or not, and
 * the spans held long that Kafka has taken. src/domain/coverage.ts `heldAt` reads them.
 */
export async function producerHeldReports(redis: Redis, config: Prefixed): Promise<HeldReport[]> {
  return Object.values(await redis.hgetall(producerHeldKey(config)))
    .map(parseHeldReport)
    .filter((r) => r !== undefined);
}

/** One field's value of `{prefix}:producer:held` (a live report or a flushed span); undefined when it is neither. */
export function parseHeldReport(value: string): HeldReport | undefined {
  try {
    const r = JSON.parse(value) as { held_since_ms?: unknown; written_ms?: unknown; flushed_ms?: unknown };
    const [heldSinceMs, writtenMs, flushedMs] = [Number(r.held_since_ms), Number(r.written_ms), Number(r.flushed_ms)];
    if (!Number.isFinite(heldSinceMs)) return undefined;
    if (r.flushed_ms !== undefined && Number.isFinite(flushedMs)) return { heldSinceMs, flushedMs };
    if (Number.isFinite(writtenMs)) return { heldSinceMs, writtenMs };
  } catch {}
  return undefined;
}

/**
 * A projection's version (src/redis/keys.ts versionKey): its shards' versions, joined by ","; a
 * shard whose key is missing reads "-". It changes whenever a script writes the figures or the
 * progress of any shard, and after the key is lost.
 */
export async function projectionVersion(redis: Redis, config: Sharded, spec: Spec): Promise<string> {
  const each = await Promise.all(shardsOf(spec, config).map((shard) => redis.get(versionKey(config, spec, shard))));
  return each.map((v) => v ?? "-").join(",");
}
