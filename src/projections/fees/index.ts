/**
 * The fee projection (./README.md): what fee rate the transactions of each minute pay, what
 * /fee_rates_per_minute serves.
 */
import type { Projection } from "../projection.ts";
import { feesApi } from "./api/index.ts";
import { feesApply } from "./apply.ts";
import { dropFeesProjection } from "./drop.ts";
import { spec } from "./spec.ts";

export const fees: Projection = { ...spec, apply: feesApply, drop: dropFeesProjection, api: feesApi };
