/**
 * Group btc-address-values: value received and sent per address over the 3-hour window. It can be
 * spread over ADDRESS_SHARDS hash tags, a consumer group each (src/domain/shards.ts).
 */
import type { ProjectionSpec } from "../../domain/projection.ts";
import { SEEN_MARGIN_SECONDS, WINDOW_SECONDS } from "../../domain/window.ts";

export const spec = {
  role: "addresses",
  group: "btc-address-values",
  namespace: "addresses",
  keepSeconds: WINDOW_SECONDS,
  replayLookbackSeconds: WINDOW_SECONDS + SEEN_MARGIN_SECONDS,
  sharded: true,
  processes: 1,
} as const satisfies ProjectionSpec;
