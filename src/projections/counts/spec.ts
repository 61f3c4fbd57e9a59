/**
 * Group btc-minute-counts: transactions and value per event minute and hour. Its hour buckets
 * serve the 24 hours of /transactions_count_per_hour, so it keeps and replays 25 hours.
 */
import type { ProjectionSpec } from "../../domain/projection.ts";
import { WINDOW_SECONDS } from "../../domain/window.ts";

/** Minute buckets live this long after the minute's start (the API reads the last hour). */
export const MINUTE_BUCKET_KEEP_SECONDS = WINDOW_SECONDS + 3600;
/** Hour buckets live this long after the hour's start: the API reads the last 24 hours. */
export const HOUR_BUCKET_KEEP_SECONDS = 25 * 3600;

export const spec = {
  role: "counts",
  group: "btc-minute-counts",
  namespace: "counts",
  keepSeconds: HOUR_BUCKET_KEEP_SECONDS,
  replayLookbackSeconds: HOUR_BUCKET_KEEP_SECONDS,
  sharded: false,
  processes: 3,
} as const satisfies ProjectionSpec;
