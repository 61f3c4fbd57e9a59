/**
 * /health: can the pipeline do its job, and is it doing it?
 *
 * 503 when Redis does not answer (every read goes there), when the Kafka brokers do not answer
 * (nothing new arrives), when a consumer group has no member, when a partition has lag (its end in
 * Kafka beyond the position Redis holds for it) and that position has not moved for `stallMs`, or
 * when a partition's consumer cannot apply its records (its error in Redis: a key of the wrong
 * type). Both are judged per partition and per shard, so partitions that move cannot hide one that
 * does not. A group replaying the log into its projection is `catching_up`, not failed, while it
 * moves.
 *
 * The rest is information: how old the newest transaction is, when the producer last heard from
 * the feed, each group's lag and projection, and the demo supervisor's restarts.
 *
 * The answer is shared for `cacheMs` (at most 1 s): a flood of /health costs Redis and Kafka
 * no more than one check a second. Nothing in it echoes a driver message, a host or a port: those
 * go to the log.
 */
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import type { Logger } from "../../domain/log.ts";
import { type GroupRole, type ProjectionSpec, shardsOf } from "../../domain/projection.ts";
import { groupId } from "../../kafka/client.ts";
import { positionField } from "../../redis/keys.ts";
import type { ApiStore, GroupProgress, ProjectionState } from "../store.ts";
import type { KafkaProbe, KafkaStatus } from "./kafka.ts";
import type { Health } from "./model.ts";

/** How long the Redis part of /health may take. */
export const REDIS_PING_TIMEOUT_MS = 500;
/** A group with work whose position has not moved for this long is stalled. */
export const DEFAULT_STALL_MS = 30_000;
/** The longest a /health answer is reused. */
export const MAX_HEALTH_CACHE_MS = 1_000;

const within = <T>(work: Promise<T>, ms: number): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export interface HealthOptions {
  /** Reuse of an answer, ms (capped at MAX_HEALTH_CACHE_MS); 0 checks on every request. */
  cacheMs?: number;
  /** See DEFAULT_STALL_MS. */
  stallMs?: number;
  /** Monotonic clock (ms) for the stall timing; tests may drive it. */
  monotonic?: () => number;
  /**
   * The deployment (topic, partitions, group ids, shards), to judge each group's partitions. Without
   * it: the probe's topic and partitions, and every group reads as its projection's first shard.
   */
  config?: HealthConfig;
}

/** Where a partition was when last seen with lag, and since when it has not moved. */
interface Track {
  position: number | null;
  since: number;
}

type HealthConfig = Pick<Config, "REDIS_PREFIX" | "TOPIC" | "TOPIC_PARTITIONS" | "GROUP_PREFIX" | "ADDRESS_SHARDS">;
type GroupHealth = Health["groups"][number];
type PartitionHealth = GroupHealth["partitions"][number];

export class HealthService {
  private readonly cacheMs: number;
  private readonly stallMs: number;
  private readonly monotonic: () => number;
  private readonly config: HealthConfig | undefined;
  private cached: { at: number; body: Health } | undefined;
  private inflight: Promise<Health> | undefined;
  private readonly tracks = new Map<string, Track>();

  constructor(
    private readonly redis: Redis,
    private readonly store: ApiStore,
    private readonly kafka: KafkaProbe,
    private readonly projections: readonly ProjectionSpec[],
    private readonly now: () => number,
    private readonly log?: Logger,
    opts: HealthOptions = {},
  ) {
    this.cacheMs = Math.min(opts.cacheMs ?? MAX_HEALTH_CACHE_MS, MAX_HEALTH_CACHE_MS);
    this.stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.config = opts.config;
  }

  /** The answer, shared with every request for `cacheMs` (one check at a time). */
  check(): Promise<Health> {
    const at = this.monotonic();
    if (this.cached && at - this.cached.at < this.cacheMs) return Promise.resolve(this.cached.body);
    this.inflight ??= this.compute().then(
      (body) => {
        this.cached = { at, body };
        this.inflight = undefined;
        return body;
      },
      (err) => {
        this.inflight = undefined;
        throw err;
      },
    );
    return this.inflight;
  }

  private async compute(): Promise<Health> {
    const [redis, kafka] = await Promise.all([this.checkRedis(), this.kafka.check()]);
    const now = this.now();
    let newest: number | null = null;
    let metrics: Record<string, string> = {};
    let projections: ProjectionState[] = [];
    let shards = new Map<GroupRole, GroupProgress[]>();
    if (redis.ok) {
      const [time, fields, progress, coverage] = await Promise.all([
        within(
          this.store.latestTransactions(1, now).then((latest) => latest[0]?.time ?? null),
          REDIS_PING_TIMEOUT_MS,
        ).catch(() => null),
        within(this.store.pipelineMetrics(), REDIS_PING_TIMEOUT_MS).catch(() => ({}) as Record<string, string>),
        within(Promise.all(this.projections.map((spec) => this.store.projection(spec))), REDIS_PING_TIMEOUT_MS).catch(() => [] as ProjectionState[]),
        within(Promise.all(this.projections.map(async (spec) => [spec.role, await this.store.coverage(spec)] as const)), REDIS_PING_TIMEOUT_MS).catch(() => []),
      ]);
      newest = time;
      metrics = fields;
      projections = progress;
      shards = new Map(coverage);
    }
    const at = Number(metrics.producer_last_message_at_ms);
    const lastMessageAt = Number.isFinite(at) && at > 0 ? at : null;
    if (!kafka.ok && kafka.detail) this.log?.limited("health kafka", "warn", `health: ${kafka.error}`, { detail: kafka.detail });

    const groups = this.groups(kafka, projections, shards);
    const reasons: string[] = [];
    if (!redis.ok) reasons.push(`redis: ${redis.error}`);
    if (!kafka.ok) reasons.push(`kafka: ${kafka.error}`);
    for (const g of groups) {
      if (g.state === "no_member") reasons.push(`group ${g.group} (${g.role}): no member`);
      for (const p of g.partitions) {
        const where = `group ${g.group} (${g.role}), shard ${p.shard}, partition ${p.partition}`;
        if (p.state === "error") reasons.push(`${where}: cannot apply its records: ${p.error}`);
        if (p.state === "stalled")
          reasons.push(`${where}: stalled, position ${p.position ?? "none"}, log end ${p.end} (${p.lag} records behind), unmoved for ${Math.round(p.unmoved_seconds ?? 0)} s`);
      }
    }
    return {
      status: reasons.length ? "unavailable" : "ok",
      reasons,
      redis,
      kafka: {
        ok: kafka.ok,
        ...(kafka.error ? { error: kafka.error } : {}),
        topic: kafka.topic,
        topic_exists: kafka.topic_exists,
        groups: kafka.groups.map(({ role, group, lag, committed }) => ({ role, group, lag, committed })),
        checked_at: kafka.checked_at,
      },
      newest_transaction: { time: newest, age_seconds: newest === null ? null : Math.max(0, now / 1000 - newest) },
      producer_last_message_age_seconds: lastMessageAt === null ? null : Math.max(0, (now - lastMessageAt) / 1000),
      projections: projections.map(({ role, state, records_to_replay }) => ({ role, state, records_to_replay })),
      groups,
      stalled_after_seconds: this.stallMs / 1000,
      supervisor: supervisorOf(metrics),
    };
  }

  /** Each group's state, from its partitions' (a group per shard of a projection in shards). */
  private groups(kafka: KafkaStatus, projections: ProjectionState[], shards: Map<GroupRole, GroupProgress[]>): Health["groups"] {
    return kafka.groups.map((g) => {
      const projection = projections.find((p) => p.role === g.role);
      const config = this.config;
      const spec = this.projections.find((p) => p.role === g.role);
      const shard =
        config && spec
          ? Math.max(
              0,
              shardsOf(spec, config).findIndex((s) => groupId(config, spec, s) === g.group),
            )
          : 0;
      const progress = shards.get(g.role)?.[shard];
      const partitions = progress ? this.partitions(kafka, g.group, shard, progress) : [];
      const moving = partitions.filter((p) => p.unmoved_seconds !== null);
      const unmoved = moving.length ? Math.max(...moving.map((p) => p.unmoved_seconds as number)) : null;
      const has = (state: PartitionHealth["state"]) => partitions.some((p) => p.state === state);
      const state: GroupHealth["state"] = !kafka.ok
        ? "unknown"
        : g.members === 0
          ? "no_member"
          : has("error")
            ? "error"
            : has("stalled")
              ? "stalled"
              : projection?.state === "catching_up"
                ? "catching_up"
                : "ok";
      return { role: g.role, group: g.group, state, members: g.members, lag: g.lag, records_to_replay: projection?.records_to_replay ?? 0, unmoved_seconds: unmoved, partitions };
    });
  }

  /**
   * Each partition of the topic (Kafka's, else TOPIC_PARTITIONS; and any other Redis names) as one
   * group applies it; remembers where each was, to tell a stalled partition from a moving one.
   */
  private partitions(kafka: KafkaStatus, group: string, shard: number, progress: GroupProgress): PartitionHealth[] {
    const t = this.monotonic();
    const topic = this.config?.TOPIC ?? kafka.topic;
    const count = kafka.partitions.length || (this.config?.TOPIC_PARTITIONS ?? 0);
    const numbers = new Set(Array.from({ length: count }, (_, p) => p));
    for (const field of [...progress.positions.keys(), ...progress.errors.keys()]) {
      const at = field.lastIndexOf(":");
      if (field.slice(0, at) === topic && /^[0-9]+$/.test(field.slice(at + 1))) numbers.add(Number(field.slice(at + 1)));
    }
    return [...numbers]
      .sort((a, b) => a - b)
      .map((partition): PartitionHealth => {
        const field = positionField(topic, partition);
        const position = progress.positions.get(field) ?? null;
        const ends = kafka.ok ? kafka.partitions.find((p) => p.partition === partition) : undefined;
        const end = ends?.high ?? null;
        // Without a position the consumer has everything the log holds still to apply.
        const lag = ends ? Math.max(0, ends.high - (position ?? ends.low)) : null;
        const key = `${group} ${partition}`;
        let track = this.tracks.get(key);
        if (!lag) this.tracks.delete(key);
        else if (!track || track.position !== position) this.tracks.set(key, (track = { position, since: t }));
        const unmoved = lag && track ? (t - track.since) / 1000 : null;
        const error = progress.errors.get(field);
        const until = progress.replayUntil.get(field);
        const state: PartitionHealth["state"] = error
          ? "error"
          : lag === null
            ? "unknown"
            : unmoved !== null && unmoved * 1000 >= this.stallMs
              ? "stalled"
              : position !== null && until !== undefined && position < until
                ? "catching_up"
                : "ok";
        return { partition, shard, position, end, lag, unmoved_seconds: unmoved, state, ...(error ? { error } : {}) };
      });
  }

  private async checkRedis(): Promise<Health["redis"]> {
    const start = performance.now();
    try {
      await within(this.redis.ping(), REDIS_PING_TIMEOUT_MS);
      return { ok: true, latency_ms: Math.round((performance.now() - start) * 1000) / 1000 };
    } catch (err) {
      this.log?.limited("health redis", "warn", "health: Redis is not reachable", { detail: message(err) });
      return { ok: false, latency_ms: null, error: "Redis is not reachable" };
    }
  }
}

/** The demo supervisor's restarts, from the metrics hash (fields written by the demo supervisor, tools/demo/main.ts). */
export function supervisorOf(metrics: Record<string, string>): Health["supervisor"] {
  const count = (v: string | undefined) => {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
  };
  const per_role: Record<string, number> = {};
  for (const [field, value] of Object.entries(metrics)) {
    const m = /^supervisor_restarts_(.+)_total$/.exec(field);
    if (m?.[1]) per_role[m[1]] = count(value);
  }
  let last: unknown = null;
  const text = metrics.supervisor_last_restart;
  if (text) {
    try {
      last = JSON.parse(text);
    } catch {
      last = text;
    }
  }
  return { restarts_total: count(metrics.supervisor_restarts_total), per_role, last };
}
