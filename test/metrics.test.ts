/**
 * The pieces of /metrics that need no Redis or Kafka: the pipeline hash turned into prom-client
 * metrics (odd field names, non-numbers, clashes) and the /stream figures read at scrape time.
 * (/metrics through the app, with the hash in Redis: api.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import { Counter, Registry } from "prom-client";
import { HttpMetrics } from "../src/api/metrics/http.ts";
import { pipelineMetrics } from "../src/api/metrics/pipeline.ts";
import { streamMetrics } from "../src/api/metrics/stream.ts";

/** The sample lines of an exposition (no comments, no blank lines). */
const samples = async (registry: Registry) =>
  (await registry.metrics())
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .sort();

describe("pipeline metrics from the Redis hash", () => {
  test("unreadable hash: only pipeline_metrics_up 0", async () => {
    expect(await samples(pipelineMetrics(undefined, new Registry()))).toEqual(["pipeline_metrics_up 0"]);
  });

  test("counters and gauges by name; names made valid; non-numbers, negative counters and clashes left out", async () => {
    const taken = new Registry();
    new Counter({ name: "api_http_requests_total", help: "the API's own", registers: [taken] });
    const registry = pipelineMetrics(
      {
        "supervisor_restarts_consumer-counts_total": "2",
        supervisor_last_restart: '{"role":"producer"}',
        producer_buffer_bytes: "-1.5",
        "1st": "7",
        "a-b_total": "1",
        a_b_total: "2",
        broken_total: "-3",
        api_http_requests_total: "99",
      },
      taken,
    );
    expect(await samples(registry)).toEqual(["_1st 7", "a_b_total 1", "pipeline_metrics_up 1", "producer_buffer_bytes -1.5", "supervisor_restarts_consumer_counts_total 2"]);
    const text = await registry.metrics();
    expect(text).toContain("# TYPE supervisor_restarts_consumer_counts_total counter\n");
    expect(text).toContain("# TYPE producer_buffer_bytes gauge\n");
    // Merging with the registry whose names it avoided does not throw.
    expect(await Registry.merge([taken, registry]).metrics()).toContain("api_http_requests_total 0");
  });
});

describe("/stream figures", () => {
  test("read from the broadcaster at each scrape, counters copied rather than added up", async () => {
    const stats = { clients: 3, dropped: 2, refused: 1 };
    const registry = streamMetrics(() => stats);
    expect(await samples(registry)).toEqual(["api_stream_clients 3", "api_stream_dropped_total 2", "api_stream_refused_total 1"]);
    Object.assign(stats, { clients: 0, dropped: 5, refused: 1 });
    expect(await samples(registry)).toEqual(["api_stream_clients 0", "api_stream_dropped_total 5", "api_stream_refused_total 1"]);
    expect(await registry.metrics()).toContain("# TYPE api_stream_dropped_total counter\n");
  });
});

describe("HTTP request metrics", () => {
  test("a counter and a histogram per route, method and status; label values escaped", async () => {
    const http = new HttpMetrics();
    http.observe('/a"b', "GET", 200, 0.003);
    http.observe('/a"b', "GET", 200, 7);
    const lines = await samples(http.registry);
    expect(lines).toContain('api_http_requests_total{route="/a\\"b",method="GET",status="200"} 2');
    expect(lines).toContain('api_http_request_duration_seconds_bucket{le="0.005",route="/a\\"b",method="GET",status="200"} 1');
    expect(lines).toContain('api_http_request_duration_seconds_bucket{le="5",route="/a\\"b",method="GET",status="200"} 1');
    expect(lines).toContain('api_http_request_duration_seconds_bucket{le="+Inf",route="/a\\"b",method="GET",status="200"} 2');
    expect(lines).toContain('api_http_request_duration_seconds_sum{route="/a\\"b",method="GET",status="200"} 7.003');
  });
});
