/** The counts projection's part of the API: /transactions_count_per_minute and /transactions_count_per_hour, and the minutes' feed of /stream. */
import type { ApiPart } from "../../../api/projection.ts";
import { fromRedis } from "../../../api/redis.ts";
import { hourBuckets, minuteBuckets } from "../read.ts";
import { countsRoutes } from "./routes.ts";
import { CountsService } from "./service.ts";

export const countsApi: ApiPart = {
  tag: { name: "counts", description: "transactions per minute and per hour" },
  routes: ({ redis, config, fresh, coverage }) =>
    countsRoutes(
      new CountsService(
        {
          minuteBuckets: (fromMs, n) => fromRedis(minuteBuckets(redis, config, fromMs, n), "minute counts"),
          hourBuckets: (fromMs, n) => fromRedis(hourBuckets(redis, config, fromMs, n), "hour counts"),
        },
        fresh,
        coverage,
      ),
    ),
  feeds: (redis, config) => ({ minuteBuckets: (fromMs, n) => minuteBuckets(redis, config, fromMs, n) }),
};
