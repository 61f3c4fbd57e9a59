/**
 * The address projection (./README.md): value received and sent per address over the last 3
 * hours, what /high_value_addr serves.
 */
import type { Projection } from "../projection.ts";
import { addressesApi } from "./api/index.ts";
import { addressesApply } from "./apply.ts";
import { dropAddressesProjection } from "./drop.ts";
import { spec } from "./spec.ts";
import { addressesUpkeep } from "./upkeep.ts";

export const addresses: Projection = { ...spec, apply: addressesApply, upkeep: addressesUpkeep, drop: dropAddressesProjection, api: addressesApi };
