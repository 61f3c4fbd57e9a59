/**
 * `ApiStore` on Redis: the shared read functions of src/redis/read.ts and the feeds the
 * projections offer, each behind `fromRedis`, so a Redis that fails or is slow becomes a 503
 * rather than a 500 or a hang.
 */
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import { metricsKey } from "../redis/keys.ts";
import { groupProgress, producerHeldReports, projectionVersion, replayLeft, shardProgresses } from "../redis/read.ts";
import type { ApiProjection } from "./projection.ts";
import { fromRedis } from "./redis.ts";
import type { ApiStore, Feeds } from "./store.ts";

/** Every feed, from the first projection that offers it; a feed none offers is a start-up error. */
function feedsOf(redis: Redis, config: Config, projections: readonly ApiProjection[]): Feeds {
  const offered: Partial<Feeds> = {};
  for (const p of projections) for (const [name, feed] of Object.entries(p.api.feeds?.(redis, config) ?? {})) (offered as Record<string, unknown>)[name] ??= feed;
  const need = <K extends keyof Feeds>(name: K): Feeds[K] => {
    const feed = offered[name];
    if (!feed) throw new Error(`no projection of the registry offers the API feed ${name}`);
    return feed as Feeds[K];
  };
  const latest = need("latestTransactions");
  const minutes = need("minuteBuckets");
  const after = need("transactionsAfter");
  const lastSeq = need("lastTransactionSeq");
  return {
    latestTransactions: (limit, nowMs) => fromRedis(latest(limit, nowMs), "latest transactions"),
    transactionsAfter: (n, limit) => fromRedis(after(n, limit), "transactions stream"),
    lastTransactionSeq: () => fromRedis(lastSeq(), "transactions stream"),
    minuteBuckets: (fromMs, n) => fromRedis(minutes(fromMs, n), "minute counts"),
  };
}

export function redisStore(redis: Redis, config: Config, projections: readonly ApiProjection[]): ApiStore {
  const metrics = metricsKey(config);
  return {
    ...feedsOf(redis, config, projections),
    projection: (spec) =>
      fromRedis(
        groupProgress(redis, config, spec).then((p) => {
          const left = replayLeft(p);
          let position = 0;
          for (const offset of p.positions.values()) position += offset;
          return { role: spec.role, state: p.positions.size === 0 ? "empty" : left > 0 ? "catching_up" : "current", records_to_replay: left, position } as const;
        }),
        `${spec.role} projection`,
      ),
    coverage: (spec) => fromRedis(shardProgresses(redis, config, spec), `${spec.role} coverage`),
    check: () =>
      fromRedis(
        Promise.all([Promise.all(projections.map(async (spec) => [spec.role, await projectionVersion(redis, config, spec)] as const)), producerHeldReports(redis, config)]).then(
          ([versions, held]) => ({ versions: new Map(versions), held }),
        ),
        "projections' versions",
      ),
    pipelineMetrics: () => fromRedis(redis.hgetall(metrics), "metrics hash"),
  };
}
