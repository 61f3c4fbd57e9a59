/**
 * An optional per-client-address rate limit (`RATE_LIMIT_PER_MIN`, 0 = off, the default): a
 * fixed one-minute window per address, the address as client.ts finds it (`TRUST_PROXY`; an
 * IPv6 client counted by its /64). Over the limit: JSON 429 `rate_limited` with Retry-After
 * (the seconds until the window ends).
 *
 * Memory is bounded: at most `maxTracked` addresses are remembered; past that the least recently
 * seen goes (it starts a fresh window when it comes back).
 */
import { Elysia } from "elysia";
import { clientAddress, trustedHops } from "./client.ts";
import { TooManyRequestsError } from "./errors.ts";

const WINDOW_MS = 60_000;

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
    readonly maxTracked = 10_000,
  ) {}

  /** Counts one request of `address`; returns the seconds to wait when over the limit, else 0. */
  take(address: string): number {
    const now = this.now();
    let w = this.windows.get(address);
    if (w && now - w.start >= WINDOW_MS) w = undefined;
    if (!w) w = { start: now, count: 0 };
    w.count++;
    // Re-inserted: the map's order is least recently seen first.
    this.windows.delete(address);
    this.windows.set(address, w);
    while (this.windows.size > this.maxTracked) this.windows.delete(this.windows.keys().next().value as string);
    return w.count > this.perMinute ? (w.start + WINDOW_MS - now) / 1000 : 0;
  }

  get tracked(): number {
    return this.windows.size;
  }
}

/** `trustProxy`: `TRUST_PROXY` as configured (false, true or a number of proxies). */
export const rateLimit = (perMinute: number, trustProxy: string, limiter = new RateLimiter(perMinute)) => {
  const plugin = new Elysia({ name: "api/rate-limit" });
  if (perMinute <= 0) return plugin;
  const hops = trustedHops(trustProxy);
  return plugin.onRequest(function rateLimited({ request, server }) {
    const wait = limiter.take(clientAddress(request, server, hops));
    if (wait > 0) throw new TooManyRequestsError(`more than ${perMinute} requests a minute from this address; try again in ${Math.ceil(wait)} s`, wait);
  });
};
