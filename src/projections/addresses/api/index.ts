/** The address projection's part of the API: /high_value_addr. */
import type { ApiPart } from "../../../api/projection.ts";
import { fromRedis } from "../../../api/redis.ts";
import { topAddresses } from "../read.ts";
import { addressesRoutes } from "./routes.ts";
import { AddressesService } from "./service.ts";

export const addressesApi: ApiPart = {
  tag: { name: "addresses", description: "value per address over the last 3 hours" },
  routes: ({ redis, config, fresh, coverage }) =>
    addressesRoutes(new AddressesService((side, limit) => fromRedis(topAddresses(redis, config, side, limit), `top addresses (${side})`), fresh, coverage)),
};
