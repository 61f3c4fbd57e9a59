/**
 * Time in the projections: the window, and how long each kind of key lives. One place for these
 * numbers; the Lua scripts get them as ARGV, the read functions and tests use the same ones.
 *
 * The window. At time `now` the window is the 180 one-minute buckets (UTC, by event time) ending
 * with the current minute: minute m (unix seconds of its start) is in the window iff
 *     m >= floor(now / 60) * 60 - 179 * 60
 * so it spans between 179 and 180 minutes of past time plus the current minute, i.e. "the last 3
 * hours, to the minute". Transactions stamped in a later minute (the producer lets a few minutes
 * of clock skew through) are in the window too. A transaction whose minute is before the window
 * start when a group consumes it is "stale": the address and transaction groups do not apply it.
 *
 * "Now" is Redis's clock: the scripts read TIME themselves (lua/includes/clock.lua) and the
 * processes read it through src/redis/clock.ts, so every process agrees on the window.
 */
export const WINDOW_MINUTES = 180;
export const WINDOW_SECONDS = WINDOW_MINUTES * 60;

/** A group remembers a transaction hash this long past the window start (records stamped a little ahead). */
export const SEEN_MARGIN_SECONDS = 10 * 60;
/**
 * The producer counts a transaction stamped further ahead of its arrival than this at its arrival
 * time (src/feed/utx.ts), so a record's event time is at most this after its Kafka timestamp.
 */
export const MAX_FUTURE_SECONDS = 5 * 60;
/**
 * How far ahead of Redis's clock a transaction's time may be. The producer already counts a
 * transaction stamped more than 5 minutes ahead at its arrival time; a record further ahead
 * comes from a broken clock and would create keys that outlive everything else.
 */
export const MAX_AHEAD_SECONDS = 3600;
/**
 * Most entries one script call subtracts from the address window, or transactions it drops from
 * the store: bounds how long one call blocks Redis, however large a minute was. An entry costs
 * Redis about 10 µs on the 2-core test machine (a ZINCRBY on the 3-hour totals, and a ZREM when
 * the address leaves them), so a call stays around 40 ms, under the 100 ms goal.
 */
export const WINDOW_BUDGET = 4_000;

/** Start (unix s) of the minute holding `sec`. */
export const minuteOf = (sec: number) => sec - (sec % 60);
/** Start (unix s) of the hour holding `sec`. */
export const hourOf = (sec: number) => sec - (sec % 3600);
/** First minute (unix s) of the window at `nowSec`. */
export const windowStart = (nowSec: number) => minuteOf(nowSec) - (WINDOW_MINUTES - 1) * 60;
/** Unix seconds of a unix-milliseconds time. */
export const toSec = (ms: number) => Math.floor(ms / 1000);

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
/** "HH:MM" of a UTC time given in unix ms: how answers and events name a minute. */
export const hhmm = (ms: number) => {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
};
