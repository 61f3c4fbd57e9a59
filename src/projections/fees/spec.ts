/**
 * Group btc-fee-rates: what fee rate the transactions of each event minute pay, in
 * mempool.space's fee bands. Keeps (and replays) 2 hours of minutes.
 */
import type { ProjectionSpec } from "../../domain/projection.ts";

/** Minutes live this long after they start: the API reads the last hour. */
export const FEE_MINUTE_KEEP_SECONDS = 2 * 3600;

export const spec = {
  role: "fees",
  group: "btc-fee-rates",
  namespace: "fees",
  keepSeconds: FEE_MINUTE_KEEP_SECONDS,
  replayLookbackSeconds: FEE_MINUTE_KEEP_SECONDS,
  sharded: false,
  processes: 1,
  bytesPerTxGoal: 300,
} as const satisfies ProjectionSpec;
