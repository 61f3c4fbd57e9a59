/**
 * Replaces a Redis connection that stops answering. ioredis reconnects when it sees the socket
 * close; under Bun a connection whose server went away has been seen to stay "open", every
 * command on it waiting for ever (a consumer hung that way, left its group and never came back).
 * Every `everyMs` a PING is sent; when no reply at all comes back on the connection within
 * `timeoutMs` (neither the PING's nor that of a command queued before it), the connection is
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
    // A PING waits behind the commands sent before it (a long pipeline of script calls can take
    // seconds): the connection is dead only when no reply at all came back while it waited,
    // i.e. the command at the head of ioredis' reply queue is still the same one.
    const head = () => (redis as unknown as { commandQueue?: { peekFront(): unknown } }).commandQueue?.peekFront();
    const pong = redis.ping();
    const waitingFor = head();
    const deadline = setTimeout(() => {
      if (answered || redis.status !== "ready" || head() !== waitingFor) return;
      onReplace();
      redis.disconnect(true);
    }, timeoutMs);
    try {
      await pong;
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
