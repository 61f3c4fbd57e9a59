/**
 * The registry of consumer groups: one entry per projection, the one list every other module
 * takes the groups from. Kafka group ids (src/kafka/client.ts), Redis key namespaces
 * (src/redis/keys.ts), the replay of an empty projection (src/consumers/positions.ts), /health,
 * rebuild, `bun run consumer <role>`, the demo, compose and the tests all enumerate `ROLES` or
 * read an entry here. What a group *does* with a batch is its processor, in the pipeline layer
 * (src/consumers/processors.ts), keyed by the same roles.
 *
 * Adding a projection: an entry here and its processor there; the type checker then asks for
 * what is per group elsewhere (its drop script in src/redis/scripts.ts, the test kit's fill).
 */
import { type TLiteral, type TUnion, Type } from "@sinclair/typebox";
import { HOUR_BUCKET_KEEP_SECONDS, SEEN_MARGIN_SECONDS, WINDOW_SECONDS } from "./window.ts";

export interface GroupSpec {
  /** The Kafka consumer group id, before GROUP_PREFIX. */
  readonly group: string;
  /**
   * The group's Redis key namespace: every key of its projection starts `{REDIS_PREFIX}:<namespace>:`
   * (src/redis/keys.ts builds the key families inside it). Distinct per group, without `:`.
   */
  readonly namespace: string;
  /**
   * How far back in the log (by record timestamp) the group replays into an empty projection:
   * what its projection can still hold.
   */
  readonly replayLookbackSeconds: number;
  /** Processes of the group that `bun run demo`, compose.yaml and the pipeline tests run. */
  readonly processes: number;
}

/**
 * Counts keep hour buckets for the 24 hours of /transactions_count_per_hour, so they replay that
 * far back; the others keep the 3-hour window (plus the margin for records stamped a little
 * ahead of when they were written).
 */
export const GROUP_REGISTRY = {
  /** Transactions and value per event minute and hour. */
  counts: {
    group: "btc-minute-counts",
    namespace: "counts",
    replayLookbackSeconds: HOUR_BUCKET_KEEP_SECONDS,
    processes: 3,
  },
  /** Value received and sent per address over the last 3 hours. */
  addresses: {
    group: "btc-address-values",
    namespace: "addresses",
    replayLookbackSeconds: WINDOW_SECONDS + SEEN_MARGIN_SECONDS,
    processes: 1,
  },
  /** The transactions of the last 3 hours, within TX_CAP. */
  transactions: {
    group: "btc-transactions",
    namespace: "transactions",
    replayLookbackSeconds: WINDOW_SECONDS + SEEN_MARGIN_SECONDS,
    processes: 1,
  },
} as const satisfies Record<string, GroupSpec>;

export type GroupRole = keyof typeof GROUP_REGISTRY;
/** Every role, in the registry's order (the order /health lists them in). */
export const ROLES = Object.keys(GROUP_REGISTRY) as GroupRole[];

/** `role` is a role of the registry. */
export const isGroupRole = (role: unknown): role is GroupRole => typeof role === "string" && Object.hasOwn(GROUP_REGISTRY, role);

/** Role -> an entry's field, for every role. */
const field = <K extends keyof GroupSpec>(key: K) => Object.fromEntries(ROLES.map((role) => [role, GROUP_REGISTRY[role][key]]));

/** Role -> Kafka group id (before GROUP_PREFIX). */
export const GROUPS = field("group") as { readonly [R in GroupRole]: (typeof GROUP_REGISTRY)[R]["group"] };
/** Role -> how far back (s) the group replays into an empty projection. */
export const REPLAY_LOOKBACK_SECONDS = field("replayLookbackSeconds") as Readonly<Record<GroupRole, number>>;

/**
 * A role as a JSON Schema (the API's /health documents it): one literal per role of the registry.
 * Typed as a one-literal union of every role: Elysia's types read a union only from a tuple.
 */
export const GroupRoleSchema = Type.Union(ROLES.map((role) => Type.Literal(role))) as TUnion<[TLiteral<GroupRole>]>;
