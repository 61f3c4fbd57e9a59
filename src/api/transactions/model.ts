import { t } from "elysia";
import { TransactionView } from "../../domain/transaction.ts";
import { Limit } from "../params.ts";

export { TransactionView };

export const LatestTransactions = t.Object({ transactions: t.Array(TransactionView, { maxItems: 1000, description: "newest first by `time`" }) }, { title: "LatestTransactions" });
export type LatestTransactions = typeof LatestTransactions.static;

export const LatestQuery = t.Object({ limit: Limit(100, 1000) });

export const HashParams = t.Object({
  hash: t.String({
    pattern: "^[0-9a-fA-F]{64}$",
    description: "a transaction id: 64 hexadecimal digits",
    example: "0000000000000000000000000000000000000000000000000000000000000000",
  }),
});
