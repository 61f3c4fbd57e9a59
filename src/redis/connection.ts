/**
 * The one way every role (and the test kit) connects to Redis, with one policy:
 *   - a command fails rather than waiting for ever: one retry across a reconnect, and at most
 *     REDIS_COMMAND_TIMEOUT_MS for an answer (the caller retries its batch, or answers 503);
 *   - reconnecting backs off from 100 ms to 2 s, for as long as it takes;
 *   - the watchdog (watchdog.ts) replaces a connection that stops answering at all.
 * The API bounds its reads tighter still, per request (src/api/redis.ts).
 */
import Redis from "ioredis";
import type { Logger } from "../domain/log.ts";
import { WATCHDOG_TIMEOUT_MS, watchConnection } from "./watchdog.ts";

/**
 * How long a Redis command may go unanswered before it fails. Script calls take milliseconds;
 * this only ends a wait on a connection that will never answer, which the watchdog then replaces.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;

/** Connects to `url`; connection errors go to `log` (at most one line per interval), or nowhere. */
export function connectRedis(url: string, log?: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  redis.on("error", (err: Error) => log?.limited("redis:error", "warn", `redis: ${err.message}`));
  watchConnection(redis, () => log?.warn(`redis: no answer within ${WATCHDOG_TIMEOUT_MS} ms; replacing the connection`));
  return redis;
}
