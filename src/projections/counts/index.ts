/**
 * The counts projection (./README.md): transactions and value per event minute and hour, what
 * /transactions_count_per_minute and /transactions_count_per_hour serve.
 */
import type { Projection } from "../projection.ts";
import { countsApi } from "./api/index.ts";
import { countsApply } from "./apply.ts";
import { dropCountsProjection } from "./drop.ts";
import { spec } from "./spec.ts";

export const counts: Projection = { ...spec, apply: countsApply, drop: dropCountsProjection, api: countsApi };
