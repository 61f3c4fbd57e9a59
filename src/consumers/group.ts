/**
 * What a consumer group does with a batch, apart from Kafka (runner.ts is the transport): a
 * group maps decoded transactions to script calls and sends them in one pipeline, one round trip
 * a batch; a large batch is cut into several calls of that pipeline (script argument counts and
 * Lua's unpack() limit), each atomic and idempotent on its own.
 */
import type Redis from "ioredis";
import type { GroupRole } from "../kafka/client.ts";
import type { ApplyResult } from "../redis/scripts.ts";
import type { Transaction } from "../transaction.ts";

export interface GroupProcessor {
  readonly role: GroupRole;
  /** Applies a batch (`nowSec`: the consumer's clock, unix seconds). Rejects when Redis did not acknowledge it. */
  apply(redis: Redis, txs: readonly Transaction[], nowSec: number): Promise<ApplyResult>;
  /** Upkeep that must happen while the feed is idle too (window advance, trimming); idempotent. */
  tick?(redis: Redis, nowSec: number): Promise<void>;
  /** How often `tick` runs. */
  readonly tickEveryMs?: number;
}

/**
 * Most script arguments in one call. A script blocks Redis while it runs, so calls stay short
 * (an address call of ~270 transactions takes ~10 ms) for the API's reads in between; the calls
 * of a batch still go in one pipeline.
 */
export const MAX_ARGS_PER_CALL = 3_000;

/** Cuts `items` into consecutive chunks of at most `maxArgs` arguments (`argsOf` each). */
export function chunkByArgs<T>(items: readonly T[], argsOf: (item: T) => number, maxArgs = MAX_ARGS_PER_CALL): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let args = 0;
  for (const item of items) {
    const n = argsOf(item);
    if (current.length && args + n > maxArgs) {
      chunks.push(current);
      current = [];
      args = 0;
    }
    current.push(item);
    args += n;
  }
  if (current.length) chunks.push(current);
  return chunks;
}

export const sumResults = (results: readonly ApplyResult[]): ApplyResult =>
  results.reduce((a, r) => ({ applied: a.applied + r.applied, duplicates: a.duplicates + r.duplicates, stale: a.stale + r.stale }), { applied: 0, duplicates: 0, stale: 0 });
