/**
 * What a consumer group does with a batch, apart from Kafka (runner.ts is the transport): a
 * group maps the valid transactions of one fetched stretch of a partition to script calls and
 * sends them in one pipeline, one round trip a batch. A large batch is cut into several calls
 * (script argument counts, and how long one call may block Redis), each atomic on its own and
 * each covering its own stretch of offsets, so the group's position moves with every call's
 * effects (lua/includes/checkPosition.lua).
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import { type ProjectionSpec, shardsOf } from "../domain/projection.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";
import type { Transaction } from "../domain/transaction.ts";
import { type Applied, type ApplyMapping, type ApplyResult, type DropProjection, NO_POSITION, runAll, type ScriptCall, type Stretch, type Upkeep } from "../redis/scripts.ts";

/** A projection as the consumers know it (src/projections/projection.ts): its spec, apply, upkeep and drop. */
export interface ConsumerProjection extends ProjectionSpec {
  // biome-ignore lint/suspicious/noExplicitAny: each projection has a record type of its own; the consumers only pass them through.
  readonly apply: ApplyMapping<any>;
  readonly upkeep?: Upkeep;
  readonly drop: DropProjection;
}

/** A valid transaction and its offset in the partition. */
export interface LogRecord {
  tx: Transaction;
  offset: string;
}

export interface GroupProcessor {
  readonly spec: ProjectionSpec;
  /** The shard of the projection it keeps (src/domain/shards.ts); WHOLE but for a sharded projection. */
  readonly shard: Shard;
  /** Why the projection refuses a valid transaction (a dead letter with this reason), or null. */
  refuse(tx: Transaction): string | null;
  /**
   * Applies the valid records of `stretch` (offsets [from, to) of one partition; records in offset
   * order) when the group's position is `stretch.from`. Rejects when Redis did not answer.
   */
  apply(redis: Redis, records: readonly LogRecord[], stretch: Stretch): Promise<Applied<ApplyResult>>;
  /** Upkeep that must happen while the feed is idle too (window advance, trimming); idempotent. */
  tick?(redis: Redis): Promise<void>;
  /** How often `tick` runs. */
  readonly tickEveryMs?: number;
  /** Drops the shard's projection, its position included (a consumer that finds it built from another log). */
  drop(redis: Redis, onCall?: () => Promise<void>): Promise<number>;
}

/**
 * Most script arguments in one call. A script blocks Redis while it runs, so calls stay short
 * (a few ms) for the API's reads in between; the calls of a batch still go in one pipeline.
 */
export const MAX_ARGS_PER_CALL = 3_000;

/**
 * Cuts `records` into consecutive chunks of at most `maxArgs` arguments (`argsOf` each), each with
 * the stretch of offsets it covers: the first starts at `stretch.from`, the last ends at
 * `stretch.to`, and each other ends where the next begins (records the batch left out, such as
 * dead letters, belong to the chunk before them). At least one chunk, empty when there are no
 * records, so the position moves past a stretch of dead letters too.
 */
export function chunkStretch<T>(
  records: readonly T[],
  offsetOf: (r: T) => string,
  argsOf: (r: T) => number,
  stretch: Stretch,
  maxArgs = MAX_ARGS_PER_CALL,
): { records: T[]; stretch: Stretch }[] {
  const chunks: T[][] = [[]];
  let args = 0;
  for (const r of records) {
    const n = argsOf(r);
    let current = chunks[chunks.length - 1] as T[];
    if (current.length && args + n > maxArgs) {
      current = [];
      chunks.push(current);
      args = 0;
    }
    current.push(r);
    args += n;
  }
  if (stretch.field === "") return chunks.map((c) => ({ records: c, stretch: NO_POSITION }));
  return chunks.map((c, i) => {
    const next = chunks[i + 1]?.[0];
    return {
      records: c,
      stretch: { field: stretch.field, from: i === 0 ? stretch.from : offsetOf(c[0] as T), to: next === undefined ? stretch.to : offsetOf(next) },
    };
  });
}

/** Sends a batch's calls in one pipeline: applied when every call applied (figures summed), else the first refusal. */
export async function applyAll<T extends ApplyResult>(redis: Redis, calls: ScriptCall<Applied<T>>[]): Promise<Applied<ApplyResult>> {
  const replies = await runAll(redis, calls);
  const total: ApplyResult = { applied: 0, duplicates: 0, stale: 0 };
  for (const r of replies) {
    if (r.status !== "applied") return r;
    total.applied += r.applied;
    total.duplicates += r.duplicates;
    total.stale += r.stale;
  }
  return { status: "applied", ...total };
}

/** The script calls that apply `records` (valid, not refused) for one shard of a projection, a chunk a call (pure). */
export function applyCalls<R>(
  mapping: ApplyMapping<R>,
  config: Config,
  records: readonly LogRecord[],
  stretch: Stretch,
  shard: Shard = WHOLE,
  at?: number,
): ScriptCall<Applied<ApplyResult>>[] {
  const mapped = records.map((r) => ({ r: mapping.record(r.tx, shard), offset: r.offset }));
  const chunks = chunkStretch(
    mapped,
    (m) => m.offset,
    (m) => mapping.args(m.r),
    stretch,
  );
  return chunks.map((c) =>
    mapping.call(
      config,
      c.stretch,
      c.records.map((m) => m.r),
      shard,
      at,
    ),
  );
}

/** The processor of one shard of a projection: its apply in chunked calls, its upkeep and its drop. */
export function processorOf(projection: ConsumerProjection, config: Config, shard: Shard = WHOLE): GroupProcessor {
  const { apply, upkeep } = projection;
  return {
    spec: projection,
    shard,
    refuse: (tx) => apply.refuse?.(tx) ?? null,
    apply: (redis, records, stretch) => applyAll(redis, applyCalls(apply, config, records, stretch, shard)),
    ...(upkeep && { tick: (redis: Redis) => upkeep.run(redis, config, shard), tickEveryMs: upkeep.everyMs }),
    drop: (redis, onCall) => projection.drop(redis, config, shard, onCall),
  };
}

/** What one process of a projection's group runs: its processor, or one per shard (ADDRESS_SHARDS) of a sharded projection. */
export const processorsOf = (projection: ConsumerProjection, config: Config): GroupProcessor[] =>
  shardsOf(projection, config).map((shard) => processorOf(projection, config, shard));
