/**
 * The REST API, built from its dependencies: `createApp(deps)` returns the Elysia app; the
 * entry point (src/roles/api.ts) only wires and listens, and tests call `app.handle(...)`.
 */
import { cors } from "@elysiajs/cors";
import { Elysia } from "elysia";
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import { Coverage } from "./completeness.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { errorHandler } from "./errors.ts";
import { Freshness, type FreshOptions } from "./fresh.ts";
import type { KafkaProbe } from "./health/kafka.ts";
import { healthRoutes } from "./health/routes.ts";
import { type HealthOptions, HealthService, MAX_HEALTH_CACHE_MS } from "./health/service.ts";
import { HttpMetrics } from "./metrics/http.ts";
import { metricsRoutes, requestTimer } from "./metrics/routes.ts";
import type { ApiContext, ApiProjection } from "./projection.ts";
import { RateLimiter, rateLimit } from "./rate-limit.ts";
import type { ApiStore } from "./store.ts";
import { redisStore } from "./store-redis.ts";
import { streamRoutes } from "./stream/routes.ts";
import { Broadcaster } from "./stream/service.ts";
import { swaggerPlugin } from "./swagger/plugin.ts";

export interface AppDeps {
  config: Config;
  /** A client made by `connectRedis` (src/redis/connection.ts): commands fail rather than wait. */
  redis: Redis;
  /** Kafka reachability and consumer lag for /health. */
  kafka: KafkaProbe;
  /** The projections whose routes it mounts and whose progress /health shows: the registry (src/projections/registry.ts). */
  projections: readonly ApiProjection[];
  log: Logger;
  /** The clock (unix ms); tests pin it. */
  now?: () => number;
  /** How answers follow Redis (./fresh.ts): by default each reading is kept until its projection's version moves; `{ shared: false }` reads on every request. */
  fresh?: FreshOptions;
  /** Request metrics; one per process. */
  http?: HttpMetrics;
  /** The /stream broadcaster (one per process); made from the store when absent. */
  broadcaster?: (store: ApiStore, now: () => number) => Broadcaster;
  /** Wraps the Redis store (tests count reads through it). */
  store?: (store: ApiStore) => ApiStore;
  /** /health: reuse of an answer (at most 1 s, the default; 0 when answers are not shared), and when a group with work counts as stalled. */
  health?: HealthOptions;
  /** The rate limiter (made from RATE_LIMIT_PER_MIN when absent); tests pin its clock. */
  rateLimiter?: RateLimiter;
}

/**
 * @elysiajs/cors 1.4 sets `Vary: *` on every answer whenever any origin is allowed (its
 * `handleOrigin`, with no option to turn it off), though `Access-Control-Allow-Origin: *` is the
 * same for every origin: `Vary: *` tells every cache that no two requests match, so nothing in
 * front of the API could reuse an answer. This hook runs after the plugin's and drops it; a list
 * of origins keeps the plugin's `Vary: Origin`. (A preflight, answered inside the plugin's hook,
 * keeps it: OPTIONS answers are not cached anyway.)
 */
const noVaryStar = new Elysia({ name: "api/no-vary-star" }).onRequest(function noVaryStar({ set }) {
  if (set.headers.vary === "*") delete set.headers.vary;
});

/** CORS_ORIGIN: `*` for any origin, else a comma-separated list of allowed origins. */
const corsOrigin = (value: string): string | string[] =>
  value.trim() === "*"
    ? "*"
    : value
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean);

/**
 * What every projection's routes are built on (./projection.ts), from the store the app reads
 * through. `partitions`: the topic's partitions, for the coverage of every answer.
 */
export function apiContext(deps: Pick<AppDeps, "config" | "redis" | "now" | "fresh" | "http">, store: ApiStore, partitions: () => number): ApiContext {
  const now = deps.now ?? Date.now;
  return {
    config: deps.config,
    redis: deps.redis,
    fresh: new Freshness(() => store.check(), now, deps.fresh, deps.http?.fresh),
    coverage: new Coverage(store, deps.config.TOPIC, partitions),
  };
}

export function createApp(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  const http = deps.http ?? new HttpMetrics();
  const base = redisStore(deps.redis, deps.config, deps.projections);
  const store = deps.store?.(base) ?? base;
  // Every partition of the topic: Kafka's count once the /health probe has seen it (a topic made
  // elsewhere can have another), TOPIC_PARTITIONS (what this pipeline creates) until then.
  const context = apiContext({ ...deps, http }, store, () => deps.kafka.partitions ?? deps.config.TOPIC_PARTITIONS);
  const fresh = context.fresh;
  const broadcaster =
    deps.broadcaster?.(store, now) ?? new Broadcaster(store, now, { maxClients: deps.config.STREAM_MAX_CLIENTS, maxPerAddress: deps.config.STREAM_MAX_PER_ADDRESS });
  const health = new HealthService(deps.redis, store, deps.kafka, deps.projections, now, deps.log, {
    cacheMs: fresh.shared ? MAX_HEALTH_CACHE_MS : 0,
    config: deps.config,
    ...deps.health,
  });
  const limiter = deps.rateLimiter ?? new RateLimiter(deps.config.RATE_LIMIT_PER_MIN);

  return new Elysia({ name: "api" })
    .use(requestTimer(http))
    .use(errorHandler(deps.log))
    .use(rateLimit(limiter.perMinute, deps.config.TRUST_PROXY, limiter))
    .use(
      cors({
        origin: corsOrigin(deps.config.CORS_ORIGIN),
        methods: ["GET", "HEAD", "OPTIONS"],
        // If-None-Match: a page's own revalidation (respond.ts); a browser's cache sends it without asking.
        allowedHeaders: ["accept", "content-type", "if-none-match"],
        // The completeness flag (completeness.ts) and the tag to revalidate with, readable by a page of another origin.
        exposeHeaders: ["x-complete", "x-incomplete-reason", "etag"],
        credentials: false,
      }),
    )
    .use(noVaryStar)
    .use(
      swaggerPlugin({
        title: "btc-stream API",
        version: "1",
        description:
          "Real-time analytics over unconfirmed Bitcoin transactions (blockchain.com feed → Kafka → Redis). Times are UTC, values satoshi. " +
          'Every error is JSON `{ "error": "<code>", "message": "<what was wrong and what is allowed>" }`. ' +
          "Answers of the data routes follow Redis: each is read again once its projection has written (checked every 5 ms, re-read at most every 20 ms under a burst of writes), " +
          "so it reflects every write Redis acknowledged about 50 ms before the request; with no writes, requests cost Redis only that check. " +
          "Every data answer says whether its figures are final: `complete` (and, when false, `incomplete_reason`: replaying, log_gap or behind) " +
          "in the body, and the headers `X-Complete` and `X-Incomplete-Reason`. " +
          "HTTP caching: every data answer carries a strong `ETag`, a hash of the body as sent with its flag (the text table's tag covers `X-Complete` too); " +
          "a request whose `If-None-Match` names it (or is `*`) gets a 304 without a body, with the same ETag, Cache-Control, Vary and X-Complete headers. " +
          "`Cache-Control` is `max-age=0, must-revalidate` on a complete answer and `no-cache` on an incomplete one: a browser, proxy or CDN may keep " +
          "an answer and revalidates it before each reuse. `Vary` names only what changes an answer: `Origin` when CORS_ORIGIN lists origins (none " +
          "with `*`), `Accept` where it picks the format. A 404 of /transactions/{hash} has an ETag and Cache-Control too, but is never a 304.",
        tags: [
          ...deps.projections.map((p) => p.api.tag),
          { name: "stream", description: "live events: new transactions and minute counts" },
          { name: "operations", description: "health and metrics" },
        ],
      }),
    )
    .use(deps.projections.reduce((routes, p) => routes.use(p.api.routes(context)), new Elysia({ name: "api/projections" })))
    .use(healthRoutes(health))
    .use(metricsRoutes({ config: deps.config, redis: deps.redis, http, stream: () => broadcaster.stats() }))
    .use(streamRoutes(broadcaster, deps.config.TRUST_PROXY))
    .use(dashboardRoutes());
}

export type App = ReturnType<typeof createApp>;
