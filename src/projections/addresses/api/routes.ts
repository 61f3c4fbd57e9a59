import { Elysia } from "elysia";
import { ErrorBody } from "../../../api/errors.ts";
import { responses } from "../../../api/openapi.ts";
import { limitOf } from "../../../api/params.ts";
import { ANSWER_HEADERS, json } from "../../../api/respond.ts";
import { HighValueAddresses, HighValueQuery } from "./model.ts";
import type { AddressesService } from "./service.ts";

const RESPONSES = { 200: HighValueAddresses, 422: ErrorBody, 503: ErrorBody };

export const addressesRoutes = (addresses: AddressesService) =>
  new Elysia({ name: "api/addresses" }).get(
    "/high_value_addr",
    ({ query, set, request }) => json(set, request, addresses.top(query.side ?? "received", limitOf(query.limit, 10))),
    {
      query: HighValueQuery,
      detail: {
        operationId: "highValueAddr",
        tags: ["addresses"],
        summary: "Addresses with the most value over the last 3 hours",
        description:
          "The addresses with the highest aggregate value over exactly the last 3 hours, to the minute, by event time (the 180 UTC " +
          "minutes ending with the current one: at 13:45:20, 10:46:00 onwards), highest first: " +
          "`side=received` (default) sums the outputs paid to each address, `side=sent` the inputs it spent. 10 unless `limit` " +
          "(1 to 1000) says otherwise. Values in satoshi. `complete` is false while any shard of the address projection is " +
          "replaying or behind, or the window crosses a gap of the log.",
        responses: responses(RESPONSES, { 200: ANSWER_HEADERS }),
      },
    },
  );
