import { Type } from "@sinclair/typebox";
import { t } from "elysia";

/** A projection's role: one of the registry (src/projections/registry.ts), as `bun run consumer <role>` takes it. */
const Role = Type.String({ pattern: "^[a-z][a-z0-9_]*$", description: "a projection's role, as `bun run consumer <role>` takes it" });

const Nullable = <T extends Parameters<typeof t.Union>[0][number]>(schema: T, description: string) => t.Union([schema, t.Null()], { description });

/** A consumer group's lag on the topic, as Kafka reports it. */
export const GroupLag = t.Object({
  role: Role,
  group: t.String({ description: "consumer group id" }),
  lag: Nullable(Type.Integer({ minimum: 0 }), "records on the topic the group has not committed yet; null when unknown"),
  committed: t.Boolean({ description: "false while the group has committed nothing (its lag is then every record retained)" }),
});
export type GroupLag = typeof GroupLag.static;

export const Projection = t.Object(
  {
    role: Role,
    state: t.Union([t.Literal("current"), t.Literal("catching_up"), t.Literal("empty")], {
      description:
        "current: the group's position in Redis has reached the end of its last replay; catching_up: it is replaying the log into an emptied projection; " +
        "empty: Redis holds no position for the group yet (its consumers start a replay within seconds)",
    }),
    records_to_replay: Type.Integer({ minimum: 0, description: "records the replay has still to apply (0 when current)" }),
  },
  { description: "a group's projection in Redis" },
);
export type Projection = typeof Projection.static;

export const PartitionState = t.Object(
  {
    partition: Type.Integer({ minimum: 0 }),
    shard: Type.Integer({ minimum: 0, description: "the shard of the projection the group writes (0 but for the address projection in shards)" }),
    position: Nullable(Type.Integer({ minimum: 0 }), "the next offset the projection will apply, as Redis holds it; null when it holds none"),
    end: Nullable(Type.Integer({ minimum: 0 }), "the partition's end in Kafka (high watermark); null when unknown"),
    lag: Nullable(Type.Integer({ minimum: 0 }), "records between the position (or the log's start) and the end"),
    unmoved_seconds: Nullable(Type.Number(), "how long the partition has had lag without its position moving; null when it has none or moved at the last look"),
    state: t.Union([t.Literal("ok"), t.Literal("catching_up"), t.Literal("stalled"), t.Literal("error"), t.Literal("unknown")], {
      description:
        "ok: level with the log, or moving; catching_up: replaying into an emptied projection; stalled: lag and a position unmoved for " +
        "`stalled_after_seconds` (503); error: its consumer cannot apply its records, `error` says why (503); unknown: Kafka did not answer",
    }),
    error: t.Optional(t.String({ description: "why the partition's consumer cannot apply (a key of the wrong type, named)" })),
  },
  { description: "one partition of the topic as one group (one shard) applies it" },
);

export const GroupState = t.Object(
  {
    role: Role,
    group: t.String({ description: "consumer group id" }),
    state: t.Union([t.Literal("ok"), t.Literal("catching_up"), t.Literal("no_member"), t.Literal("error"), t.Literal("stalled"), t.Literal("unknown")], {
      description:
        "ok: members present, positions moving or nothing to do; catching_up: replaying the log into its projection and moving; " +
        "no_member: no consumer in the group (503); error: a partition's consumer cannot apply (503); stalled: a partition has lag but its " +
        "position has not moved for `stalled_after_seconds`, even while the others move (503); unknown: Kafka did not answer",
    }),
    members: Nullable(Type.Integer({ minimum: 0 }), "consumers in the group; null when unknown"),
    lag: Nullable(Type.Integer({ minimum: 0 }), "records on the topic the group has not committed yet"),
    records_to_replay: Type.Integer({ minimum: 0, description: "records its replay has still to apply (0 unless catching up)" }),
    unmoved_seconds: Nullable(Type.Number(), "the longest a partition of the group has had lag without its position moving; null when none has"),
    partitions: t.Array(PartitionState, { description: "each partition of the topic, as this group applies it (empty when Redis could not be read)" }),
  },
  { description: "a consumer group: is it there and moving?" },
);

export const Supervisor = t.Object(
  {
    restarts_total: Type.Integer({ minimum: 0, description: "roles the demo supervisor restarted (supervisor_restarts_total); 0 when none or not under the demo" }),
    per_role: t.Record(t.String(), Type.Integer({ minimum: 0 }), { description: "restarts per role (supervisor_restarts_<name>_total)" }),
    last: Nullable(t.Unknown(), "the last restart as the supervisor recorded it (supervisor_last_restart); null when none"),
  },
  { description: "restarts by the demo supervisor (bun run demo), from the metrics hash" },
);

export const Health = t.Object(
  {
    status: t.Union([t.Literal("ok"), t.Literal("unavailable")], {
      description: "ok (200) when Redis and Kafka answer and every consumer group has a member and moves; unavailable (503) otherwise",
    }),
    reasons: t.Array(t.String(), { description: "why the status is unavailable; empty when ok" }),
    redis: t.Object({
      ok: t.Boolean(),
      latency_ms: Nullable(Type.Number(), "PING round trip"),
      error: t.Optional(t.String()),
    }),
    kafka: t.Object({
      ok: t.Boolean({ description: "the brokers answered" }),
      error: t.Optional(t.String()),
      topic: t.String(),
      topic_exists: t.Boolean(),
      groups: t.Array(GroupLag),
      checked_at: t.String({ format: "date-time", description: "when Kafka was asked (answers are cached for a second or two)" }),
    }),
    newest_transaction: t.Object({
      time: Nullable(Type.Integer(), "event time of the newest stored transaction, unix seconds; null when none is stored"),
      age_seconds: Nullable(Type.Number(), "now minus that time"),
    }),
    producer_last_message_age_seconds: Nullable(Type.Number(), "seconds since a producer last received a feed message (producer_last_message_at_ms); null when unknown"),
    projections: t.Array(Projection, { description: "each group's projection in Redis: current, or catching up with the log (after Redis lost data or `bun run rebuild`)" }),
    groups: t.Array(GroupState, { description: "each consumer group: ok, catching up, no member or stalled" }),
    stalled_after_seconds: t.Number({ description: "a partition with lag whose position has not moved for this long is stalled" }),
    supervisor: Supervisor,
  },
  { title: "Health" },
);
export type Health = typeof Health.static;
