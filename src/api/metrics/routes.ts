/**
 * GET /metrics (Prometheus text format, rendered by prom-client) and the hooks that time every request.
 *
 * A scrape shows this process's default metrics (process.ts), its request counts and latencies
 * (http.ts) and /stream figures (stream.ts), then the pipeline's counters from the Redis metrics
 * hash every role flushes into (pipeline.ts; one HGETALL, bounded by the API's Redis timeout).
 */
import { Elysia, StatusMap, t } from "elysia";
import type Redis from "ioredis";
import { Registry } from "prom-client";
import type { Config } from "../../domain/config.ts";
import { metricsKey } from "../../redis/keys.ts";
import { responses } from "../openapi.ts";
import { fromRedis } from "../redis.ts";
import type { HttpMetrics } from "./http.ts";
import { pipelineMetrics } from "./pipeline.ts";
import { processMetrics } from "./process.ts";
import { type StreamStats, streamMetrics } from "./stream.ts";

const Exposition = t.String({ description: "Prometheus text exposition" });

export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export interface MetricsDeps {
  config: Pick<Config, "REDIS_PREFIX">;
  redis: Redis;
  http: HttpMetrics;
  /** The /stream counters of this process. */
  stream?: () => StreamStats;
}

/** Times every request of the app: registered first, so its onRequest runs before any other. */
export const requestTimer = (http: HttpMetrics) => {
  const started = new WeakMap<Request, number>();
  return new Elysia({ name: "api/request-timer" })
    .onRequest(function startTimer({ request }) {
      started.set(request, performance.now());
    })
    .onAfterResponse({ as: "global" }, function observeRequest({ request, route, set }) {
      const start = started.get(request);
      if (start === undefined) return;
      const status = typeof set.status === "number" ? set.status : (StatusMap[set.status as keyof typeof StatusMap] ?? 200);
      http.observe(route || "unmatched", request.method, status, (performance.now() - start) / 1000);
    });
};

export const metricsRoutes = ({ config, redis, http, stream }: MetricsDeps) => {
  const key = metricsKey(config);
  // This process's metrics, the same at every scrape; the pipeline's are made from the hash each time.
  const api = Registry.merge([processMetrics(), http.registry, ...(stream ? [streamMetrics(stream)] : [])]);
  return new Elysia({ name: "api/metrics" }).get(
    "/metrics",
    async ({ set }) => {
      const fields = await fromRedis(redis.hgetall(key), "metrics hash").catch(() => undefined);
      set.headers["content-type"] = CONTENT_TYPE;
      return Registry.merge([api, pipelineMetrics(fields, api)]).metrics();
    },
    {
      detail: {
        operationId: "metrics",
        tags: ["operations"],
        responses: responses({ 200: [{ schema: Exposition, type: "text/plain" }] }),
        summary: "Prometheus metrics",
        description:
          "Prometheus text format (0.0.4). This API process's CPU, memory and event-loop lag (`process_*`, `nodejs_*`); `api_http_requests_total` and the `api_http_request_duration_seconds` histogram per route pattern, " +
          "method and status (this API process); then the pipeline's counters and gauges as every role flushes them into the Redis metrics hash " +
          "(`producer_received_total`, `consumer_<role>_applied_total`, ...; `pipeline_metrics_up` is 0 when Redis could not be read).",
      },
      response: { 200: Exposition },
    },
  );
};
