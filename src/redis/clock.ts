/**
 * Redis's clock, for a process: "now" is the same for every process (the scripts read TIME
 * themselves). The offset between this process's clock and Redis's TIME is measured at start and
 * every `refreshMs`; `now()` is then the local clock plus that offset, so a process whose clock
 * is minutes off still reads and checks the same window as every other.
 */
import type Redis from "ioredis";

export interface Clock {
  /** Redis's time, unix ms (the local clock until the first measurement answers). */
  now(): number;
  /** Measures the offset again; resolves when measured (or failed: the last offset stays). */
  sync(): Promise<void>;
  stop(): void;
}

export const CLOCK_REFRESH_MS = 30_000;

export function redisClock(redis: Redis, refreshMs = CLOCK_REFRESH_MS): Clock {
  let offset = 0;
  const sync = async () => {
    try {
      const before = Date.now();
      const [sec, usec] = await redis.time();
      const after = Date.now();
      offset = Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - (before + after) / 2;
    } catch {
      // Redis away: keep the last offset; the next refresh tries again.
    }
  };
  void sync();
  const timer = setInterval(sync, refreshMs);
  timer.unref?.();
  return { now: () => Math.round(Date.now() + offset), sync, stop: () => clearInterval(timer) };
}
