/**
 * The transactions projection (./README.md): the transactions of the last 3 hours, what
 * /latest_transactions, /transactions/{hash} and /stream serve.
 */
import type { Projection } from "../projection.ts";
import { transactionsApi } from "./api/index.ts";
import { transactionsApply } from "./apply.ts";
import { dropTransactionsProjection } from "./drop.ts";
import { spec } from "./spec.ts";
import { transactionsUpkeep } from "./upkeep.ts";

export const transactions: Projection = { ...spec, apply: transactionsApply, upkeep: transactionsUpkeep, drop: dropTransactionsProjection, api: transactionsApi };
