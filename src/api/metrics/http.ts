/**
 * The API's own request metrics: a prom-client counter and latency histogram per route pattern,
 * method and status, in a registry of their own (one `HttpMetrics` per app; routes.ts renders it).
 */
import { Counter, Histogram, Registry } from "prom-client";

/** Upper bounds of the latency buckets, in seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

const LABELS = ["route", "method", "status"] as const;

export class HttpMetrics {
  /** `api_http_requests_total`, `api_http_request_duration_seconds` and the answers' checks and readings (src/api/fresh.ts). */
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: "api_http_requests_total",
    help: "HTTP requests answered by the API, by route pattern, method and status.",
    labelNames: LABELS,
    registers: [this.registry],
  });

  private readonly duration = new Histogram({
    name: "api_http_request_duration_seconds",
    help: "Time from receiving a request to answering it, by route pattern, method and status.",
    labelNames: LABELS,
    buckets: [...LATENCY_BUCKETS],
    registers: [this.registry],
  });

  private readonly checks = new Counter({
    name: "api_version_checks_total",
    help: "Checks of the projections' versions (one round trip, shared by the requests of CHECK_MS).",
    registers: [this.registry],
  });

  private readonly readings = new Counter({
    name: "api_readings_total",
    help: "Readings of a projection's figures for its answers: one each time its version moved and an answer was asked for.",
    labelNames: ["projection"] as const,
    registers: [this.registry],
  });

  /** Counts the answers' checks and readings (src/api/fresh.ts `FreshCounters`). */
  readonly fresh = {
    check: () => this.checks.inc(),
    reading: (projection: string) => this.readings.inc({ projection }),
  };

  /** Records one answered request. `route` is the route pattern (`/transactions/:hash`), never the raw path. */
  observe(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }
}
