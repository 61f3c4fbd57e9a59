/** Group btc-transactions: the transactions of the last 3 hours, within TX_CAP, as the API serves them. */
import type { ProjectionSpec } from "../../domain/projection.ts";
import { SEEN_MARGIN_SECONDS, WINDOW_SECONDS } from "../../domain/window.ts";

export const spec = {
  role: "transactions",
  group: "btc-transactions",
  namespace: "transactions",
  keepSeconds: WINDOW_SECONDS,
  replayLookbackSeconds: WINDOW_SECONDS + SEEN_MARGIN_SECONDS,
  sharded: false,
  processes: 1,
} as const satisfies ProjectionSpec;
