/**
 * A large transactions store written straight into Redis, for the tests and the benchmark of a
 * drop (src/rebuild/rebuild.ts): `n` stored transactions as the transactions group keeps them
 * (a JSON body per hash, the by-time index, the seen set), in pipelines of 10,000 commands. The
 * bodies are short stand-ins, not whole transactions: a drop deletes keys, whatever they hold.
 */
import { createHash } from "node:crypto";
import type Redis from "ioredis";
import type { Config } from "../../src/domain/config.ts";
import { txBodyKey, txByTimeKey } from "../../src/projections/transactions/keys.ts";
import { spec } from "../../src/projections/transactions/spec.ts";
import { seenKey } from "../../src/redis/keys.ts";

/** The hash of the i-th stored transaction (64 hex digits). */
export const storedHash = (i: number) => createHash("sha256").update(`stored-${i}`).digest("hex");

/** Stores `n` transactions stamped from `fromSec` on, one a second; bodies live `ttlSec`. */
export async function fillStore(redis: Redis, config: Pick<Config, "REDIS_PREFIX">, n: number, fromSec: number, ttlSec = 4 * 3600): Promise<void> {
  const CHUNK = 3_000;
  for (let from = 0; from < n; from += CHUNK) {
    const pipeline = redis.pipeline();
    const index: (string | number)[] = [];
    const seen: (string | number)[] = [];
    for (let i = from; i < Math.min(from + CHUNK, n); i++) {
      const hash = storedHash(i);
      const time = fromSec + i;
      pipeline.set(txBodyKey(config, hash), JSON.stringify({ hash, time, size: 250, inputs: [], outputs: [], value: 0, fee: null }), "EX", ttlSec);
      index.push(time, hash);
      seen.push(time, hash);
    }
    pipeline.zadd(txByTimeKey(config), ...index);
    pipeline.zadd(seenKey(config, spec), ...seen);
    await pipeline.exec();
  }
}
