/**
 * What the API reads from Redis, as one interface the services depend on. `redisStore`
 * (store-redis.ts) implements it on the read functions of src/redis/read.ts (the consumers' key
 * layout, docs/redis-keys.md). Times are unix milliseconds, UTC; values satoshi.
 */
import type { GroupRole } from "../domain/groups.ts";
import type { TransactionView } from "../domain/transaction.ts";
import type { AddressTotal, Bucket, GroupProgress, Side } from "../redis/read.ts";
import type { Projection } from "./health/model.ts";

export type { AddressTotal, Bucket, GroupProgress, Side };
export type StoredTransaction = TransactionView;

/** A group's projection as /health shows it (`Projection`), and where it is, for the stall check. */
export type ProjectionState = Projection & {
  /** Sum of the group's positions in Redis (next offset per partition): moves as the group applies records. */
  position: number;
};

export interface ApiStore {
  /** The newest `limit` stored transactions by `time` (within the window at `nowMs`), newest first. */
  latestTransactions(limit: number, nowMs: number): Promise<StoredTransaction[]>;
  /** One stored transaction, or null. */
  transaction(hash: string): Promise<StoredTransaction | null>;
  /** `n` consecutive minutes from the minute starting at `fromMs`, oldest first; empty minutes are zeros. */
  minuteBuckets(fromMs: number, n: number): Promise<Bucket[]>;
  /** `n` consecutive hours from the hour starting at `fromMs`, oldest first; empty hours are zeros. */
  hourBuckets(fromMs: number, n: number): Promise<Bucket[]>;
  /** The `limit` addresses with the highest total over the 3-hour window, highest first. */
  topAddresses(side: Side, limit: number): Promise<AddressTotal[]>;
  /** Where a group's projection is: current, catching up with the log, or empty. */
  projection(role: GroupRole): Promise<ProjectionState>;
  /**
   * What a group's projection holds, per shard (one but for the address projection in shards):
   * positions, replay, coverage, gaps and errors per partition. Whether an answer is complete is
   * judged on it (completeness.ts); /health reads each partition's position and error from it.
   */
  coverage(role: GroupRole): Promise<GroupProgress[]>;
  /** Since when a producer holds transactions Kafka has not acknowledged (its fresh reports at `nowMs`); null when none does. */
  producerHeldSinceMs(nowMs: number): Promise<number | null>;
  /** Pipeline counters and gauges (the metrics hash every role flushes into). */
  pipelineMetrics(): Promise<Record<string, string>>;
}
