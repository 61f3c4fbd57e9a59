/**
 * What the API reads from Redis, as one interface the services depend on. `redisStore`
 * (store-redis.ts) implements it on the read functions of src/redis/read.ts (the consumers' key
 * layout, docs/redis-keys.md). Times are unix milliseconds, UTC; values satoshi.
 */
import type { AddressTotal, Bucket, Side, StoredTransaction } from "../redis/read.ts";

export type { AddressTotal, Bucket, Side, StoredTransaction };

export interface ApiStore {
  /** The newest `limit` stored transactions by `time` (within the window at `nowMs`), newest first. */
  latestTransactions(limit: number, nowMs: number): Promise<StoredTransaction[]>;
  /** One stored transaction, or null. */
  transaction(hash: string): Promise<StoredTransaction | null>;
  /** `n` consecutive minutes from the minute starting at `fromMs`, oldest first; empty minutes are zeros. */
  minuteBuckets(fromMs: number, n: number): Promise<Bucket[]>;
  /** `n` consecutive hours from the hour starting at `fromMs`, oldest first; empty hours are zeros. */
  hourBuckets(fromMs: number, n: number): Promise<Bucket[]>;
  /** The `limit` addresses with the highest total over the 3-hour window at `nowMs`, highest first. */
  topAddresses(side: Side, limit: number, nowMs: number): Promise<AddressTotal[]>;
  /** Pipeline counters and gauges (the metrics hash every role flushes into). */
  pipelineMetrics(): Promise<Record<string, string>>;
}
