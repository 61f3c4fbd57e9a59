/**
 * The three consumer groups of the contract, by role: the one list every other module takes
 * them from (Kafka group ids, Redis key namespaces, /health, rebuild, tests).
 */
import { HOUR_BUCKET_KEEP_SECONDS, SEEN_MARGIN_SECONDS, WINDOW_SECONDS } from "./window.ts";

export const GROUPS = {
  counts: "btc-minute-counts",
  addresses: "btc-address-values",
  transactions: "btc-transactions",
} as const;
export type GroupRole = keyof typeof GROUPS;
export const ROLES = Object.keys(GROUPS) as GroupRole[];

/**
 * How far back in the log (by record timestamp) a group replays into an empty projection: what
 * its projection can still hold. Counts keep hour buckets for the 24 hours of
 * /transactions_count_per_hour; the others keep the 3-hour window (plus the margin for records
 * stamped a little ahead of when they were written).
 */
export const REPLAY_LOOKBACK_SECONDS: Record<GroupRole, number> = {
  counts: HOUR_BUCKET_KEEP_SECONDS,
  addresses: WINDOW_SECONDS + SEEN_MARGIN_SECONDS,
  transactions: WINDOW_SECONDS + SEEN_MARGIN_SECONDS,
};
