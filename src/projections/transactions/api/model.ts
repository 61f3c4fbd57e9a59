import { t } from "elysia";
import { CompletenessFields } from "../../../api/completeness.ts";
import { ErrorBody } from "../../../api/errors.ts";
import { Limit } from "../../../api/params.ts";
import { TransactionView } from "../../../domain/transaction.ts";

export { TransactionView };

export const LatestTransactions = t.Object(
  {
    ...CompletenessFields,
    transactions: t.Array(TransactionView, { maxItems: 1000, description: "newest first by `time`" }),
  },
  {
    title: "LatestTransactions",
    description:
      "`complete`: no transaction is missing from the list, that is none of the span from the oldest listed transaction's time " +
      "(the window's start when fewer than `limit` are listed) up to now",
  },
);
export type LatestTransactions = typeof LatestTransactions.static;

export const LatestQuery = t.Object({ limit: Limit(100, 1000) });

export const HashParams = t.Object({
  hash: t.String({
    pattern: "^[0-9a-fA-F]{64}$",
    description: "a transaction id: 64 hexadecimal digits",
    example: "0000000000000000000000000000000000000000000000000000000000000000",
  }),
});

/** One stored transaction: always complete (it is all there). */
export const FoundTransaction = t.Composite([TransactionView, t.Object(CompletenessFields)], { title: "StoredTransaction" });
export type FoundTransaction = typeof FoundTransaction.static;

/** The 404 of GET /transactions/{hash}: `complete` says whether the projection would hold it (the window, now, is complete). */
export const NotStored = t.Composite([ErrorBody, t.Object(CompletenessFields)], {
  title: "NotStored",
  description: "not stored; when `complete` is false the transaction may be stored once the projection has caught up",
});
