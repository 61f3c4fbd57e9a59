import { t } from "elysia";
import { CompletenessFields } from "../../../api/completeness.ts";
import { Limit } from "../../../api/params.ts";
import { WINDOW_SECONDS } from "../../../domain/window.ts";
import { SIDES } from "../keys.ts";
import { AddressTotal } from "../read.ts";

/** received or sent, as the answer names it. */
export const Side = t.UnionEnum(SIDES);
export type Side = typeof Side.static;

/** `?side=`: as `Side`, received when left out. */
export const SideSchema = t.UnionEnum(SIDES, {
  default: "received",
  description: "received (default: value paid to the address by transaction outputs) or sent (value its inputs spent)",
});

export const HighValueQuery = t.Object({ side: t.Optional(SideSchema), limit: Limit(10, 1000) });

export const HighValueAddresses = t.Object(
  {
    window_seconds: t.Literal(WINDOW_SECONDS, { description: "the window: the last 3 hours" }),
    side: Side,
    ...CompletenessFields,
    addresses: t.Array(AddressTotal, { maxItems: 1000, description: "highest total first" }),
  },
  {
    title: "HighValueAddresses",
    description: "`complete`: the window's every minute is, up to now, on every shard of the address projection (none is replaying or behind)",
  },
);
export type HighValueAddresses = typeof HighValueAddresses.static;
