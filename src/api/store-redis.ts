/**
 * `ApiStore` on Redis: the read functions of src/redis/read.ts, each behind `fromRedis`, so a
 * Redis that fails or is slow becomes a 503 rather than a 500 or a hang.
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import { metricsKey } from "../redis/keys.ts";
import { groupProgress, hourBuckets, latestTransactions, minuteBuckets, producerHeldSinceMs, replayLeft, shardProgresses, topAddresses, transactionByHash } from "../redis/read.ts";
import { fromRedis } from "./redis.ts";
import type { ApiStore } from "./store.ts";

export function redisStore(redis: Redis, config: Pick<Config, "REDIS_PREFIX" | "ADDRESS_SHARDS">): ApiStore {
  const metrics = metricsKey(config);
  return {
    latestTransactions: (limit, nowMs) => fromRedis(latestTransactions(redis, config, limit, nowMs), "latest transactions"),
    transaction: (hash) => fromRedis(transactionByHash(redis, config, hash), "transaction by hash"),
    minuteBuckets: (fromMs, n) => fromRedis(minuteBuckets(redis, config, fromMs, n), "minute counts"),
    hourBuckets: (fromMs, n) => fromRedis(hourBuckets(redis, config, fromMs, n), "hour counts"),
    topAddresses: (side, limit) => fromRedis(topAddresses(redis, config, side, limit), `top addresses (${side})`),
    projection: (role) =>
      fromRedis(
        groupProgress(redis, config, role).then((p) => {
          const left = replayLeft(p);
          let position = 0;
          for (const offset of p.positions.values()) position += offset;
          return { role, state: p.positions.size === 0 ? "empty" : left > 0 ? "catching_up" : "current", records_to_replay: left, position } as const;
        }),
        `${role} projection`,
      ),
    coverage: (role) => fromRedis(shardProgresses(redis, config, role), `${role} coverage`),
    producerHeldSinceMs: (nowMs) => fromRedis(producerHeldSinceMs(redis, config, nowMs), "producers' held transactions"),
    pipelineMetrics: () => fromRedis(redis.hgetall(metrics), "metrics hash"),
  };
}
