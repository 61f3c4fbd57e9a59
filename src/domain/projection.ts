/**
 * What every layer may know of a projection: its spec, plain data. Each projection folder
 * (src/projections/<name>/) declares its own, and the registry (src/projections/registry.ts) lists
 * them; the roles hand the registry down, so no shared module names a projection. From a spec come
 * the Kafka group id (src/kafka/client.ts), the Redis key namespace (src/redis/keys.ts), the
 * replay of an empty projection (src/consumers/positions.ts), /health, rebuild and the demo.
 */
import { type TLiteral, type TUnion, Type } from "@sinclair/typebox";
import type { Config } from "./config.ts";
import { addressShards, type Shard, WHOLE } from "./shards.ts";
import { MAX_AHEAD_SECONDS } from "./window.ts";

/** A projection's role: `bun run consumer <role>`, `rebuild --group <role>`, its row in /health. */
export type GroupRole = string;

export interface ProjectionSpec {
  /** Its name: a word, lowercase. */
  readonly role: GroupRole;
  /** The Kafka consumer group id, before GROUP_PREFIX. */
  readonly group: string;
  /**
   * Its Redis key namespace: every key of its projection starts `{REDIS_PREFIX}:<namespace>:`
   * (src/redis/keys.ts). Distinct per projection, without `:`.
   */
  readonly namespace: string;
  /** How long (s) its figures stay in Redis after their minute: the TTL or trim of its keys. */
  readonly keepSeconds: number;
  /**
   * How far back in the log (by record timestamp) it replays into an empty projection: what it
   * can still hold. At least `keepSeconds`.
   */
  readonly replayLookbackSeconds: number;
  /** Spread over ADDRESS_SHARDS hash tags, each shard a consumer group of its own (src/domain/shards.ts). */
  readonly sharded: boolean;
  /** Processes of the group that `bun run demo`, compose and the pipeline tests run. */
  readonly processes: number;
  /** Its memory goal: Redis bytes per transaction it holds (`bun run bench`'s `redis_bytes_per_tx_<role>`; 2,000 when absent). */
  readonly bytesPerTxGoal?: number;
}

/** The shards a projection is spread over: ADDRESS_SHARDS of them when it is sharded, else one (WHOLE). */
export const shardsOf = (spec: Pick<ProjectionSpec, "sharded">, config: Partial<Pick<Config, "ADDRESS_SHARDS">>): Shard[] => (spec.sharded ? addressShards(config) : [WHOLE]);

/**
 * How long a group remembers a transaction hash after the first copy arrived (Redis time): its
 * replay lookback (how long a record can still be applied) plus MAX_AHEAD_SECONDS, the most a
 * copy's time can be ahead of the clock. A copy stamped up to that much later than the first
 * one's arrival is therefore never applied twice, however late it comes
 * (lua/includes/rememberSeen.lua).
 */
export const seenKeepSeconds = (spec: Pick<ProjectionSpec, "replayLookbackSeconds">) => spec.replayLookbackSeconds + MAX_AHEAD_SECONDS;

/** The spec of `role` among `specs`, or undefined. */
export const specOf = <S extends ProjectionSpec>(specs: readonly S[], role: unknown): S | undefined => specs.find((s) => s.role === role);

/** Every role of `specs`, in their order. */
export const rolesOf = (specs: readonly ProjectionSpec[]): GroupRole[] => specs.map((s) => s.role);

/**
 * A role as a JSON Schema (the API's /health documents it): one literal per projection.
 * Typed as a one-literal union: Elysia's types read a union only from a tuple.
 */
export const roleSchema = (specs: readonly ProjectionSpec[]) => Type.Union(specs.map((s) => Type.Literal(s.role))) as unknown as TUnion<[TLiteral<string>]>;
