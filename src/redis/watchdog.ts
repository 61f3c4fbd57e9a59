/**
 * Replaces a Redis connection that stops answering. ioredis reconnects when it sees the socket
 * close; under Bun a connection whose server went away has been seen to stay "open", every
 * command on it waiting for ever (a consumer hung that way, left its group and never came back).
 * Every `everyMs` a PING must come back within `timeoutMs`; when it does not, the connection is
 * dropped and made again (ioredis resends what was waiting on it).
 */
import type Redis from "ioredis";

export const WATCHDOG_EVERY_MS = 5_000;
export const WATCHDOG_TIMEOUT_MS = 3_000;

/** Starts watching; returns the function that stops it. */
export function watchConnection(redis: Redis, onReplace: () => void, everyMs = WATCHDOG_EVERY_MS, timeoutMs = WATCHDOG_TIMEOUT_MS): () => void {
  let checking = false;
  const timer = setInterval(async () => {
    // Only a connection ioredis believes ready: while it reconnects on its own, leave it be.
    if (checking || redis.status !== "ready") return;
    checking = true;
    let answered = false;
    const deadline = setTimeout(() => {
      if (answered || redis.status !== "ready") return;
      onReplace();
      redis.disconnect(true);
    }, timeoutMs);
    try {
      await redis.ping();
    } catch {
      // An error is an answer: ioredis deals with a connection that fails.
    } finally {
      answered = true;
      clearTimeout(deadline);
      checking = false;
    }
  }, everyMs);
  timer.unref();
  redis.once("end", () => clearInterval(timer));
  return () => clearInterval(timer);
}
