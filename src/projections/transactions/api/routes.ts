import { Elysia } from "elysia";
import { ErrorBody } from "../../../api/errors.ts";
import { responses } from "../../../api/openapi.ts";
import { limitOf } from "../../../api/params.ts";
import { ANSWER_HEADERS, json } from "../../../api/respond.ts";
import { FoundTransaction, HashParams, LatestQuery, LatestTransactions, NotStored } from "./model.ts";
import type { TransactionsService } from "./service.ts";

const LATEST = { 200: LatestTransactions, 422: ErrorBody, 503: ErrorBody };
const ONE = { 200: FoundTransaction, 404: NotStored, 422: ErrorBody, 503: ErrorBody };

export const transactionsRoutes = (transactions: TransactionsService) =>
  new Elysia({ name: "api/transactions" })
    // Registered with the slash, as the task writes it; Elysia also answers the path without it.
    .get("/show_transactions/", ({ query, set, request }) => json(set, request, transactions.latest(limitOf(query.limit, 100))), {
      query: LatestQuery,
      detail: {
        operationId: "showTransactions",
        tags: ["transactions"],
        summary: "The latest transactions",
        description:
          "The newest stored transactions by event time (`time`), newest first: 100 unless `limit` (1 to 1000) says otherwise. " +
          "`value` is the sum of the outputs, `fee` inputs minus outputs (null when an input's value is unknown), both in satoshi. " +
          "`complete` says whether the list can be missing a transaction: none of the span from the oldest listed transaction's " +
          "time (the window's start when fewer than `limit` are listed) up to now is missing. Also answered without the trailing slash.",
        responses: responses(LATEST, { 200: ANSWER_HEADERS }),
      },
    })
    .get("/transactions/:hash", ({ params, set, request }) => json(set, request, transactions.byHash(params.hash)), {
      params: HashParams,
      detail: {
        operationId: "getTransaction",
        tags: ["transactions"],
        summary: "One stored transaction",
        description:
          "A transaction of the last 3 hours by its hash (64 hex digits, either case); 404 when it is not stored. A transaction " +
          "found is `complete: true`; on the 404, `complete` says whether the projection holds the whole window now (when " +
          "false, the transaction may be stored once it has caught up).",
        responses: responses(ONE, { 200: ANSWER_HEADERS, 404: ANSWER_HEADERS }),
      },
    });
