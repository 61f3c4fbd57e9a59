/**
 * The guard around every API read of Redis: a read that fails or takes longer
 * than `REDIS_TIMEOUT_MS` becomes a 503 `unavailable` (with Retry-After) rather than a hung request
 * or a 500. The body says what could not be read; the driver's message is only logged. The client
 * itself comes from the one factory, src/redis/connection.ts.
 */
import { UnavailableError } from "./errors.ts";

/** How long one read may take before the API answers 503. */
export const REDIS_TIMEOUT_MS = 1_000;

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
