import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { Limit } from "../params.ts";

export const WINDOW_SECONDS = 10_800;

export const SideSchema = t.UnionEnum(["received", "sent"], {
  default: "received",
  description: "received (default: value paid to the address by transaction outputs) or sent (value its inputs spent)",
});

export const HighValueQuery = t.Object({ side: t.Optional(SideSchema), limit: Limit(10, 1000) });

export const AddressTotal = t.Object(
  {
    address: t.String({ description: "bitcoin address", example: "35wEodJ1x64uUy3PkenD1gT3tnrHhQSNTG" }),
    total_value: Type.Integer({ minimum: 0, description: "aggregate value over the window, satoshi", example: 1790000 }),
  },
  { title: "AddressTotal" },
);

export const HighValueAddresses = t.Object(
  {
    window_seconds: t.Literal(WINDOW_SECONDS, { description: "the window: the last 3 hours" }),
    side: t.UnionEnum(["received", "sent"]),
    addresses: t.Array(AddressTotal, { maxItems: 1000, description: "highest total first" }),
  },
  { title: "HighValueAddresses" },
);
export type HighValueAddresses = typeof HighValueAddresses.static;
