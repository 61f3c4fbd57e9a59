import { Elysia } from "elysia";
import { ErrorBody } from "../errors.ts";
import { responses } from "../openapi.ts";
import { wantsText } from "../params.ts";
import { json, text } from "../respond.ts";
import { HourCounts, MinuteCounts, MinuteParams, MinuteQuery, MinuteTable } from "./model.ts";
import { type CountsService, minuteTable } from "./service.ts";

export const countsRoutes = (counts: CountsService) =>
  new Elysia({ name: "api/counts" })
    .get(
      "/transactions_count_per_minute/:min_value",
      async ({ params, query, headers, set }) => {
        const body = await counts.perMinute(Number(params.min_value));
        return wantsText(query.format, headers.accept) ? text(set, minuteTable(body.value)) : json(set, body);
      },
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
            "With `?format=text` or `Accept: text/plain` the answer is the task's two-column table, tab-separated: a header line " +
            "`minute<TAB>count`, then `HH:MM<TAB>count` one line a minute, each line ending with a newline:\n\n" +
            "```\nminute\tcount\n13:01\t102\n13:02\t98\n```\n\n" +
            "`min_value` must be an integer ≥ 0 in decimal digits; anything else (-1, 1.5, abc, 1e3) is a 422 saying so.",
          responses: responses({
            200: [
              { schema: MinuteCounts, description: "the minutes, as JSON or (format=text, Accept: text/plain) as the text table" },
              { schema: MinuteTable, type: "text/plain" },
            ],
            422: ErrorBody,
            503: ErrorBody,
          }),
        },
      },
    )
    .get("/transactions_count_per_hour", async ({ set }) => json(set, await counts.perHour()), {
      detail: {
        operationId: "transactionsCountPerHour",
        responses: responses({ 200: HourCounts, 503: ErrorBody }),
        tags: ["counts"],
        summary: "Transactions and value per hour of the last 24 hours",
        description:
          "The 24 UTC hours ending with the current one, oldest first: count and total output value (satoshi) per hour by event time. " +
          "The current hour is still being counted (`complete: false`); hours without transactions count 0.",
      },
    });
