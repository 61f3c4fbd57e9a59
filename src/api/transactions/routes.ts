import { Elysia } from "elysia";
import { ErrorBody } from "../errors.ts";
import { responses } from "../openapi.ts";
import { limitOf } from "../params.ts";
import { json } from "../respond.ts";
import { HashParams, LatestQuery, LatestTransactions, TransactionView } from "./model.ts";
import type { TransactionsService } from "./service.ts";

const LATEST = { 200: LatestTransactions, 422: ErrorBody, 503: ErrorBody };
const ONE = { 200: TransactionView, 404: ErrorBody, 422: ErrorBody, 503: ErrorBody };

export const transactionsRoutes = (transactions: TransactionsService) =>
  new Elysia({ name: "api/transactions" })
    // Registered with the slash, as the task writes it; Elysia also answers the path without it.
    .get("/show_transactions/", async ({ query, set }) => json(set, await transactions.latest(limitOf(query.limit, 100))), {
      query: LatestQuery,
      detail: {
        operationId: "showTransactions",
        tags: ["transactions"],
        summary: "The latest transactions",
        description:
          "The newest stored transactions by event time (`time`), newest first: 100 unless `limit` (1 to 1000) says otherwise. " +
          "`value` is the sum of the outputs, `fee` inputs minus outputs (null when an input's value is unknown), both in satoshi. " +
          "Also answered without the trailing slash.",
        responses: responses(LATEST),
      },
    })
    .get("/transactions/:hash", async ({ params, set }) => json(set, await transactions.byHash(params.hash)), {
      params: HashParams,
      detail: {
        operationId: "getTransaction",
        tags: ["transactions"],
        summary: "One stored transaction",
        description: "A transaction of the last 3 hours by its hash (64 hex digits, either case); 404 when it is not stored.",
        responses: responses(ONE),
      },
    });
