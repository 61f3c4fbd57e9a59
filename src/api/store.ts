/**
 * What the API reads from Redis outside the projections' own routes, as one interface the shared
 * services depend on: every projection's progress and coverage (/health, the `complete` flags),
 * the versions and producers' held reports of the API's checks, the metrics hash (store-redis.ts, on src/redis/read.ts), and
 * the feeds some projection offers (./projection.ts). Times are unix milliseconds, UTC; values
 * satoshi.
 */
import type { HeldReport } from "../domain/coverage.ts";
import type { ProjectionSpec } from "../domain/projection.ts";
import type { TransactionView } from "../domain/transaction.ts";
import type { GroupProgress } from "../redis/read.ts";
import type { Projection } from "./health/model.ts";

export type { GroupProgress };
export type StoredTransaction = TransactionView;

/** Transactions and their total value in one minute. */
export interface MinuteFigures {
  /** Start of the minute, unix ms. */
  start: number;
  count: number;
  /** Sum of the outputs, satoshi. */
  value: number;
}

/** Reads a projection offers the shared parts of the API (/stream, /health). */
export interface Feeds {
  /** The newest `limit` stored transactions by `time` (within the window at `nowMs`), newest first. */
  latestTransactions(limit: number, nowMs: number): Promise<StoredTransaction[]>;
  /**
   * The stored transactions after the `n`th, in the order the transactions projection stored
   * them, at most `limit`, each with its number (1, 2, … without a gap, late ones included).
   * Numbers below the first still held are gone (the stream is trimmed): the first returned then
   * jumps.
   */
  transactionsAfter(n: number, limit: number): Promise<{ n: number; tx: StoredTransaction }[]>;
  /** The number of the last stored transaction; 0 when none is held (a new or flushed Redis). */
  lastTransactionSeq(): Promise<number>;
  /** `n` consecutive minutes from the minute starting at `fromMs`, oldest first; empty minutes are zeros. */
  minuteBuckets(fromMs: number, n: number): Promise<MinuteFigures[]>;
}

/** What a check finds (fresh.ts). */
export interface Check {
  /** Role -> the projection's version (src/redis/read.ts projectionVersion). */
  versions: Map<string, string>;
  /** What the producers hold (src/redis/read.ts producerHeldReports). */
  held: HeldReport[];
}

/** A group's projection as /health shows it (`Projection`), and where it is, for the stall check. */
export type ProjectionState = Projection & {
  /** Sum of the group's positions in Redis (next offset per partition): moves as the group applies records. */
  position: number;
};

export interface ApiStore extends Feeds {
  /** Where a group's projection is: current, catching up with the log, or empty. */
  projection(spec: ProjectionSpec): Promise<ProjectionState>;
  /**
   * What a group's projection holds, per shard (one but for a sharded projection): positions,
   * replay, coverage, gaps and errors per partition. Whether an answer is complete is judged on
   * it (completeness.ts); /health reads each partition's position and error from it.
   */
  coverage(spec: ProjectionSpec): Promise<GroupProgress[]>;
  /**
   * The API's check (fresh.ts): every projection's version and the producers' held reports, in
   * one round trip of small reads.
   */
  check(): Promise<Check>;
  /** Pipeline counters and gauges (the metrics hash every role flushes into). */
  pipelineMetrics(): Promise<Record<string, string>>;
}
