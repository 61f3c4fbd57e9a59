import { Elysia } from "elysia";
import { ErrorBody } from "../../../api/errors.ts";
import { responses } from "../../../api/openapi.ts";
import { ANSWER_HEADERS, json } from "../../../api/respond.ts";
import { FEE_BANDS } from "../bands.ts";
import { FeeMinutes } from "./model.ts";
import type { FeesService } from "./service.ts";

export const feesRoutes = (fees: FeesService) =>
  new Elysia({ name: "api/fees" }).get("/fee_rates_per_minute", ({ set, request }) => json(set, request, fees.perMinute()), {
    detail: {
      operationId: "feeRatesPerMinute",
      tags: ["fees"],
      summary: "Fee rates per minute of the last hour",
      description:
        "The 60 complete UTC minutes of the last hour (at 13:45:20: 12:45 to 13:44), oldest first, by event time: what fee rate their " +
        "transactions pay, as mempool.space shows it. A transaction's fee is its inputs' value less its outputs' value; its rate is the " +
        "fee over its virtual size (ceil(weight / 4) vbytes, or its size when the feed gave no weight), in sat/vB. A transaction whose " +
        "fee is unknown (an input without its value) is counted in `unknown_fee` only; one whose inputs are worth less than its outputs " +
        "is refused (dead-lettered) and counted nowhere.\n\n" +
        `Bands, by lower bound in sat/vB: ${FEE_BANDS.join(", ")} and above. A rate falls in the highest band whose lower bound it ` +
        "reaches; rates below 1 sat/vB (zero fees included) fall in band 1.\n\n" +
        "Percentiles: `p10`, `p50` and `p90` are the lower bound of the band in which the cumulative count, lowest band first, reaches " +
        "10%, 50% and 90% of the minute's `count` (ceil(p × count / 100), at least one transaction); null in a minute without transactions. " +
        "`min_rate` and `max_rate` are exact to 0.001 sat/vB (kept as integers in sat per 1,000 vbytes, rounded down).",
      responses: responses({ 200: FeeMinutes, 503: ErrorBody }, { 200: ANSWER_HEADERS }),
    },
  });
