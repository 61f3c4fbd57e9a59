/**
 * `ApiStore` on Redis: the consumers' read functions (src/redis/read.ts), each behind
 * `fromRedis`, so a Redis that fails or is slow becomes a 503 rather than a 500 or a hang.
 */
import type Redis from "ioredis";
import type { Config } from "../config.ts";
import { hourBuckets, latestTransactions, minuteBuckets, topAddresses, transactionByHash } from "../redis/read.ts";
import { memoizedDecoder } from "./decoded.ts";
import { metricsKey } from "../redis/keys.ts";
import { fromRedis } from "./redis.ts";
import type { ApiStore } from "./store.ts";

export function redisStore(redis: Redis, config: Pick<Config, "REDIS_PREFIX">): ApiStore {
  const metrics = metricsKey(config);
  const decode = memoizedDecoder();
  return {
    latestTransactions: (limit, nowMs) => fromRedis(latestTransactions(redis, config, limit, nowMs, decode), "latest transactions"),
    transaction: (hash) => fromRedis(transactionByHash(redis, config, hash), "transaction by hash"),
    minuteBuckets: (fromMs, n) => fromRedis(minuteBuckets(redis, config, fromMs, n), "minute counts"),
    hourBuckets: (fromMs, n) => fromRedis(hourBuckets(redis, config, fromMs, n), "hour counts"),
    // With nowMs the read first moves the address window to now (idempotent), so the totals are
    // exactly the last 3 hours even while the addresses group is idle.
    topAddresses: (side, limit, nowMs) => fromRedis(topAddresses(redis, config, side, limit, nowMs), `top addresses (${side})`),
    pipelineMetrics: () => fromRedis(redis.hgetall(metrics), "metrics hash"),
  };
}
