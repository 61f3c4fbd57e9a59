/**
 * /health: can the pipeline do its job, and is it doing it?
 *
 * 503 when Redis does not answer (every read goes there), when the Kafka brokers do not answer
 * (nothing new arrives), when a consumer group has no member, or when a group has work (lag on
 * the topic, or records left to replay) and its position has not moved for `stallMs`. A group
 * replaying the log into its projection is `catching_up`, not failed, as long as it moves.
 *
 * The rest is information: how old the newest transaction is, when the producer last heard from
 * the feed, each group's lag and projection, and the demo supervisor's restarts.
 *
 * The answer is shared for `cacheMs` (at most 1 s): a flood of /health costs Redis and Kafka
 * no more than one check a second. Nothing in it echoes a driver message, a host or a port: those
 * go to the log.
 */
import type Redis from "ioredis";
import { ROLES } from "../../domain/groups.ts";
import type { Logger } from "../../domain/log.ts";
import type { ApiStore, ProjectionState } from "../store.ts";
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
}

/** Where a group was when last seen with work, and since when it has not moved. */
interface Track {
  key: string;
  since: number | undefined;
}

export class HealthService {
  private readonly cacheMs: number;
  private readonly stallMs: number;
  private readonly monotonic: () => number;
  private cached: { at: number; body: Health } | undefined;
  private inflight: Promise<Health> | undefined;
  private readonly tracks = new Map<string, Track>();

  constructor(
    private readonly redis: Redis,
    private readonly store: ApiStore,
    private readonly kafka: KafkaProbe,
    private readonly newestTime: () => Promise<number | null>,
    private readonly now: () => number,
    private readonly log?: Logger,
    opts: HealthOptions = {},
  ) {
    this.cacheMs = Math.min(opts.cacheMs ?? MAX_HEALTH_CACHE_MS, MAX_HEALTH_CACHE_MS);
    this.stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    this.monotonic = opts.monotonic ?? (() => performance.now());
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
    if (redis.ok) {
      const [time, fields, progress] = await Promise.all([
        within(this.newestTime(), REDIS_PING_TIMEOUT_MS).catch(() => null),
        within(this.store.pipelineMetrics(), REDIS_PING_TIMEOUT_MS).catch(() => ({}) as Record<string, string>),
        within(Promise.all(ROLES.map((role) => this.store.projection(role))), REDIS_PING_TIMEOUT_MS).catch(() => [] as ProjectionState[]),
      ]);
      newest = time;
      metrics = fields;
      projections = progress;
    }
    const at = Number(metrics.producer_last_message_at_ms);
    const lastMessageAt = Number.isFinite(at) && at > 0 ? at : null;
    if (!kafka.ok && kafka.detail) this.log?.limited("health kafka", "warn", `health: ${kafka.error}`, { detail: kafka.detail });

    const groups = this.groups(kafka, projections);
    const reasons: string[] = [];
    if (!redis.ok) reasons.push(`redis: ${redis.error}`);
    if (!kafka.ok) reasons.push(`kafka: ${kafka.error}`);
    for (const g of groups) {
      if (g.state === "no_member") reasons.push(`group ${g.group} (${g.role}): no member`);
      if (g.state === "stalled")
        reasons.push(
          `group ${g.group} (${g.role}): stalled, ${g.lag ?? 0} records behind and ${g.records_to_replay} to replay, position unmoved for ${Math.round(g.unmoved_seconds ?? 0)} s`,
        );
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

  /** Each group's state; remembers where each was, to tell a stalled group from a moving one. */
  private groups(kafka: KafkaStatus, projections: ProjectionState[]): Health["groups"] {
    const t = this.monotonic();
    return kafka.groups.map((g) => {
      const projection = projections.find((p) => p.role === g.role);
      const toReplay = projection?.records_to_replay ?? 0;
      const work = (g.lag ?? 0) > 0 || toReplay > 0;
      // Kafka's committed offsets and the positions in Redis: either moving is progress.
      const key = `${g.position ?? "?"}/${projection?.position ?? "?"}`;
      let track = this.tracks.get(g.group);
      if (!kafka.ok) track = undefined;
      else if (!work) track = { key, since: undefined };
      else if (!track || track.key !== key || track.since === undefined) track = { key, since: t };
      if (track) this.tracks.set(g.group, track);
      const unmoved = track?.since === undefined ? null : (t - track.since) / 1000;
      const state: Health["groups"][number]["state"] = !kafka.ok
        ? "unknown"
        : g.members === 0
          ? "no_member"
          : unmoved !== null && unmoved * 1000 >= this.stallMs
            ? "stalled"
            : projection?.state === "catching_up"
              ? "catching_up"
              : "ok";
      return { role: g.role, group: g.group, state, members: g.members, lag: g.lag, records_to_replay: toReplay, unmoved_seconds: unmoved };
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
