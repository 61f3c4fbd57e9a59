/**
 * The API's Redis client and the guard around every read: a read that fails or takes longer
 * than `REDIS_TIMEOUT_MS` becomes a 503 `unavailable` (with Retry-After) rather than a hung request
 * or a 500. The body says what could not be read; the driver's message is only logged.
 */
import Redis from "ioredis";
import { watchConnection } from "../redis/watchdog.ts";
import { UnavailableError } from "./errors.ts";

/** How long one read may take before the API answers 503. */
export const REDIS_TIMEOUT_MS = 1_000;

/**
 * A client for the API: commands fail fast when Redis is away (one retry, a timeout) instead of
 * piling up in the offline queue; it keeps reconnecting in the background.
 */
export function createApiRedis(url: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_TIMEOUT_MS,
    connectTimeout: REDIS_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
  });
  // Errors surface per command (as 503); the connection-level event would only repeat them.
  redis.on("error", () => {});
  watchConnection(redis, () => {});
  return redis;
}

/** Rejects with `UnavailableError` when `work` fails or is slower than `timeoutMs`. */
export async function fromRedis<T>(work: Promise<T>, what: string, timeoutMs = REDIS_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (err) {
    // The driver's message names hosts and ports: it goes to the log (errors.ts), not to the client.
    throw new UnavailableError(`Redis could not be read (${what}); try again shortly`, err instanceof Error ? err.message : String(err), 1);
  } finally {
    clearTimeout(timer);
  }
}
