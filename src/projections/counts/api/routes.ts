import { Elysia } from "elysia";
import { ErrorBody } from "../../../api/errors.ts";
import { responses } from "../../../api/openapi.ts";
import { ANSWER_HEADERS, json, jsonOrText } from "../../../api/respond.ts";
import { HourCounts, MinuteCounts, MinuteParams, MinuteQuery, MinuteTable } from "./model.ts";
import { type CountsService, minuteTable } from "./service.ts";

export const countsRoutes = (counts: CountsService) =>
  new Elysia({ name: "api/counts" })
    .get(
      "/transactions_count_per_minute/:min_value",
      ({ params, query, set, request }) => jsonOrText(set, request, counts.perMinute(Number(params.min_value)), query.format, minuteTable),
      {
        params: MinuteParams,
        query: MinuteQuery,
        detail: {
          operationId: "transactionsCountPerMinute",
          tags: ["counts"],
          summary: "Transactions per minute of the last hour",
          description:
            "The 60 complete UTC minutes of the last hour (at 13:45:20: 12:45 to 13:44; the current minute is still being counted and is " +
            "left out), oldest first, keeping those whose count is at least `min_value`; a minute without transactions counts 0, so " +
            "`min_value` 0 always lists 60 minutes. Minutes are by event time (the transaction's `time`).\n\n" +
            "Each minute says whether it is `complete`; the answer's own `complete` is true only when all 60 minutes are, since " +
            "`min_value` can leave an incomplete one out. The text table carries it in the `X-Complete` header.\n\n" +
            "With `?format=text` or `Accept: text/plain` the answer is the task's two-column table, tab-separated: a header line " +
            "`minute<TAB>count`, then `HH:MM<TAB>count` one line a minute, each line ending with a newline:\n\n" +
            "```\nminute\tcount\n13:01\t102\n13:02\t98\n```\n\n" +
            "`min_value` must be an integer ≥ 0 in decimal digits; anything else (-1, 1.5, abc, 1e3) is a 422 saying so.",
          responses: responses(
            {
              200: [
                { schema: MinuteCounts, description: "the minutes, as JSON or (format=text, Accept: text/plain) as the text table" },
                { schema: MinuteTable, type: "text/plain" },
              ],
              422: ErrorBody,
              503: ErrorBody,
            },
            { 200: ANSWER_HEADERS },
          ),
        },
      },
    )
    .get("/transactions_count_per_hour", ({ set, request }) => json(set, request, counts.perHour()), {
      detail: {
        operationId: "transactionsCountPerHour",
        responses: responses({ 200: HourCounts, 503: ErrorBody }, { 200: ANSWER_HEADERS }),
        tags: ["counts"],
        summary: "Transactions and value per hour of the last 24 hours",
        description:
          "The 24 UTC hours ending with the current one, oldest first: count and total output value (satoshi) per hour by event time. " +
          "The current hour is still being counted (`open: true`), and can be `complete` all the same (complete so far); hours without " +
          "transactions count 0. Each hour says whether it is `complete`, and the answer's own `complete` is true only when all 24 are.",
      },
    });
