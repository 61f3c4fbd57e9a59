import { Type } from "@sinclair/typebox";
import { t } from "elysia";

// Numbers of the answers are plain TypeBox (`Type`): Elysia's `t.Integer` / `t.Number` also
// accept numeric strings (for parameters), which would show in the OpenAPI document as a union.
import { CompletenessFields } from "../../../api/completeness.ts";
import { Format, NonNegativeInteger } from "../../../api/params.ts";

export const MinuteCount = t.Object(
  {
    minute: t.String({ pattern: "^[0-9]{2}:[0-9]{2}$", description: "the minute, HH:MM in UTC", example: "13:01" }),
    start: t.String({ format: "date-time", description: "start of the minute, ISO-8601 UTC", example: "2024-05-01T13:01:00.000Z" }),
    count: Type.Integer({ minimum: 0, description: "transactions whose event time falls in the minute" }),
    value: Type.Integer({ minimum: 0, description: "their total output value, satoshi" }),
    ...CompletenessFields,
  },
  { title: "MinuteCount" },
);

export const MinuteCounts = t.Object(
  {
    ...CompletenessFields,
    minutes: t.Array(MinuteCount, { maxItems: 60, description: "oldest first" }),
  },
  { title: "MinuteCounts", description: "`complete` of the whole answer: every one of the 60 minutes is complete, listed or filtered out by `min_value`" },
);
export type MinuteCounts = typeof MinuteCounts.static;

export const MinuteParams = t.Object({ min_value: NonNegativeInteger("the minimum count a minute must have to be listed", "0") });
export const MinuteQuery = t.Object({ format: Format });

export const HourCount = t.Object(
  {
    hour: t.String({ pattern: "^[0-9]{2}:00$", description: "the hour, HH:00 in UTC", example: "13:00" }),
    start: t.String({ format: "date-time", description: "start of the hour, ISO-8601 UTC" }),
    count: Type.Integer({ minimum: 0, description: "transactions whose event time falls in the hour" }),
    value: Type.Integer({ minimum: 0, description: "their total output value, satoshi" }),
    open: t.Boolean({ description: "true for the current hour, still being counted (it can be `complete` all the same: complete so far)" }),
    ...CompletenessFields,
  },
  { title: "HourCount" },
);

export const HourCounts = t.Object(
  {
    ...CompletenessFields,
    hours: t.Array(HourCount, { maxItems: 24, description: "oldest first; the last one is the current hour" }),
  },
  { title: "HourCounts", description: "`complete` of the whole answer: every one of the 24 hours is complete" },
);
export type HourCounts = typeof HourCounts.static;

/** The text table of GET /transactions_count_per_minute: a header line, then one line a minute. */
export const MinuteTable = t.String({
  description: "`minute<TAB>count` header line, then `HH:MM<TAB>count` one line a minute, oldest first; every line ends with a newline",
  example: "minute\tcount\n13:01\t102\n13:02\t98\n",
});
