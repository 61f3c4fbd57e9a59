/** The fee projection's part of the API: /fee_rates_per_minute. */
import type { ApiPart } from "../../../api/projection.ts";
import { fromRedis } from "../../../api/redis.ts";
import { feeMinutes } from "../read.ts";
import { feesRoutes } from "./routes.ts";
import { FeesService } from "./service.ts";

export const feesApi: ApiPart = {
  tag: { name: "fees", description: "fee rates per minute, in mempool.space's fee bands" },
  routes: ({ redis, config, fresh, coverage }) => feesRoutes(new FeesService((fromMs, n) => fromRedis(feeMinutes(redis, config, fromMs, n), "fee minutes"), fresh, coverage)),
};
