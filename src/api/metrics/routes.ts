/**
 * GET /metrics (Prometheus text format) and the hooks that time every request.
 *
 * Request counts and latencies are this process's, in memory; the pipeline's counters come from
 * the Redis metrics hash every role flushes into (src/domain/metrics.ts).
 */
import { Elysia, StatusMap, t } from "elysia";
import type Redis from "ioredis";
import type { Config } from "../../domain/config.ts";
import { metricsKey } from "../../redis/keys.ts";
import { responses } from "../openapi.ts";
import { fromRedis } from "../redis.ts";
import { type HttpMetrics, pipelineExposition } from "./http.ts";

const Exposition = t.String({ description: "Prometheus text exposition" });

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsDeps {
  config: Pick<Config, "REDIS_PREFIX">;
  redis: Redis;
  http: HttpMetrics;
  /** The /stream counters of this process. */
  stream?: () => { clients: number; dropped: number; refused: number };
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

/** The /stream gauges and counters of this process, in Prometheus text. */
const streamExposition = (s: { clients: number; dropped: number; refused: number }) =>
  "# HELP api_stream_clients live /stream connections\n# TYPE api_stream_clients gauge\n" +
  `api_stream_clients ${s.clients}\n` +
  "# HELP api_stream_dropped_total /stream clients disconnected for not keeping up\n# TYPE api_stream_dropped_total counter\n" +
  `api_stream_dropped_total ${s.dropped}\n` +
  "# HELP api_stream_refused_total /stream connections refused by the caps\n# TYPE api_stream_refused_total counter\n" +
  `api_stream_refused_total ${s.refused}\n`;

export const metricsRoutes = ({ config, redis, http, stream }: MetricsDeps) => {
  const key = metricsKey(config);
  return new Elysia({ name: "api/metrics" }).get(
    "/metrics",
    async ({ set }) => {
      const fields = await fromRedis(redis.hgetall(key), "metrics hash").catch(() => undefined);
      set.headers["content-type"] = CONTENT_TYPE;
      return http.exposition() + (stream ? streamExposition(stream()) : "") + pipelineExposition(fields);
    },
    {
      detail: {
        operationId: "metrics",
        tags: ["operations"],
        responses: responses({ 200: [{ schema: Exposition, type: "text/plain" }] }),
        summary: "Prometheus metrics",
        description:
          "Prometheus text format (0.0.4). `api_http_requests_total` and the `api_http_request_duration_seconds` histogram per route pattern, " +
          "method and status (this API process); then the pipeline's counters and gauges as every role flushes them into the Redis metrics hash " +
          "(`producer_received_total`, `consumer_<role>_applied_total`, ...; `pipeline_metrics_up` is 0 when Redis could not be read).",
      },
      response: { 200: Exposition },
    },
  );
};
