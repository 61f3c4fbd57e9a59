import { Type } from "@sinclair/typebox";
import { t } from "elysia";

// Numbers of the answers are plain TypeBox (`Type`): Elysia's `t.Integer` / `t.Number` also
// accept numeric strings (for parameters), which would show in the OpenAPI document as a union.
import { CompletenessFields } from "../../../api/completeness.ts";

const Rate = (description: string) => Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: `${description}, sat/vB; null without transactions` });

export const FeeBand = t.Object(
  {
    from: Type.Integer({ minimum: 1, description: "the band's lower bound, sat/vB (mempool.space's bands; 1 also holds every rate below 1, zero fees included)" }),
    count: Type.Integer({ minimum: 1, description: "transactions whose fee rate falls in the band" }),
  },
  { title: "FeeBand" },
);

export const FeeMinute = t.Object(
  {
    minute: t.String({ pattern: "^[0-9]{2}:[0-9]{2}$", description: "the minute, HH:MM in UTC", example: "13:01" }),
    start: t.String({ format: "date-time", description: "start of the minute, ISO-8601 UTC", example: "2024-05-01T13:01:00.000Z" }),
    count: Type.Integer({ minimum: 0, description: "transactions of the minute whose fee is known: every figure below is theirs" }),
    unknown_fee: Type.Integer({ minimum: 0, description: "transactions of the minute whose fee is unknown (an input without its value): in no other figure" }),
    total_fee: Type.Integer({ minimum: 0, description: "their fees, satoshi (inputs' value − outputs' value)" }),
    total_vsize: Type.Integer({ minimum: 0, description: "their virtual sizes, vbytes: ceil(weight / 4), or the size when the feed gave no weight" }),
    avg_rate: Rate("total_fee / total_vsize, rounded to 0.001"),
    min_rate: Rate("the lowest transaction fee rate (fee / vsize, rounded down to 0.001)"),
    max_rate: Rate("the highest transaction fee rate (fee / vsize, rounded down to 0.001)"),
    p10: Rate("10th percentile: the lower bound of the band in which the cumulative count, lowest band first, reaches 10% of `count`"),
    p50: Rate("median: the lower bound of the band in which the cumulative count reaches 50% of `count`"),
    p90: Rate("90th percentile: the lower bound of the band in which the cumulative count reaches 90% of `count`"),
    bands: t.Array(FeeBand, { description: "the bands that hold transactions, lowest first" }),
    ...CompletenessFields,
  },
  { title: "FeeMinute" },
);

export const FeeMinutes = t.Object(
  {
    ...CompletenessFields,
    minutes: t.Array(FeeMinute, { maxItems: 60, description: "oldest first" }),
  },
  { title: "FeeMinutes", description: "`complete` of the whole answer: every one of the 60 minutes is complete" },
);
export type FeeMinutes = typeof FeeMinutes.static;
