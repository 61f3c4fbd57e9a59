/**
 * How a transaction maps onto the Redis state: the window, the dedupe fingerprint and bucket,
 * and how long each kind of key lives. One place for these numbers; the Lua scripts get them as
 * ARGV, the read functions and tests use the same functions.
 *
 * The window. At time `now` the window is the 180 one-minute buckets (UTC, by event time) ending
 * with the current minute: minute m (unix seconds of its start) is in the window iff
 *     m >= floor(now / 60) * 60 - 179 * 60
 * so it spans between 179 and 180 minutes of past time plus the current minute, i.e. "the last 3
 * hours, to the minute". Transactions stamped in a later minute (the producer lets a few minutes
 * of clock skew through) are in the window too. A transaction whose minute is before the window
 * start when a group consumes it is not applied by any group (it is "stale"): its effect would
 * have to be undone at once, and the group's dedupe memory (below) only spans the window.
 */
import type { Transaction } from "../transaction.ts";

export const WINDOW_MINUTES = 180;
export const WINDOW_SECONDS = WINDOW_MINUTES * 60;

/** Dedupe sets per minute and group: `SEEN_BUCKETS` sets of at most 512 entries stay intsets (8 bytes an entry). */
export const SEEN_BUCKETS = 16;
/** A group remembers a transaction until its minute is this long past the window start. */
export const SEEN_MARGIN_SECONDS = 10 * 60;
/** Minute buckets of the counts group live this long after the minute's start (the API reads the last hour). */
export const MINUTE_BUCKET_KEEP_SECONDS = WINDOW_SECONDS + 3600;
/** Hour buckets of the counts group live this long after the hour's start (the API reads the last 24 hours). */
export const HOUR_BUCKET_KEEP_SECONDS = 26 * 3600;
/** Transactions lists are trimmed by the scripts at the window; this TTL only bounds a list nobody trims. */
export const TX_LIST_KEEP_SECONDS = WINDOW_SECONDS + SEEN_MARGIN_SECONDS;
/** Expired address-window minutes subtracted per script call: bounds the time one call blocks Redis. */
export const ADVANCE_MAX_MINUTES = 5;

/** Start (unix s) of the minute holding `sec`. */
export const minuteOf = (sec: number) => sec - (sec % 60);
/** Start (unix s) of the hour holding `sec`. */
export const hourOf = (sec: number) => sec - (sec % 3600);
/** First minute (unix s) of the window at `nowSec`. */
export const windowStart = (nowSec: number) => minuteOf(nowSec) - (WINDOW_MINUTES - 1) * 60;
/** Unix seconds of a unix-milliseconds time. */
export const toSec = (ms: number) => Math.floor(ms / 1000);

/**
 * The dedupe fingerprint of a transaction: the first 64 bits of its hash as a signed decimal
 * integer (Redis stores such members as an intset). Two different transactions of one minute
 * share it with probability about n^2 / 2^65 (n = transactions in that minute): never, in practice.
 */
export const fingerprint = (hash: string): string => BigInt.asIntN(64, BigInt(`0x${hash.slice(0, 16)}`)).toString();

/** The dedupe bucket of a transaction (0 .. SEEN_BUCKETS-1), from hash bits the fingerprint does not use. */
export const seenBucket = (hash: string): number => Number.parseInt(hash.slice(16, 18), 16) % SEEN_BUCKETS;

/** The per-record fields every group's script starts with: event time, dedupe bucket, fingerprint. */
export const dedupeFields = (tx: Pick<Transaction, "hash" | "time">): [number, number, string] => [tx.time, seenBucket(tx.hash), fingerprint(tx.hash)];
