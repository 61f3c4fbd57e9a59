/**
 * The API's own request metrics, in memory: a counter and a latency histogram per route,
 * method and status, written out in the Prometheus text format (version 0.0.4).
 */

/** Upper bounds of the latency buckets, in seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

interface Series {
  labels: string;
  count: number;
  sum: number;
  buckets: number[];
}

/** A label value as Prometheus wants it: backslash, double quote and newline escaped. */
export const labelValue = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export class HttpMetrics {
  private readonly series = new Map<string, Series>();

  /** Records one answered request. `route` is the route pattern (`/transactions/:hash`), never the raw path. */
  observe(route: string, method: string, status: number, seconds: number): void {
    const key = `${route} ${method} ${status}`;
    let s = this.series.get(key);
    if (!s) {
      s = {
        labels: `route="${labelValue(route)}",method="${labelValue(method)}",status="${status}"`,
        count: 0,
        sum: 0,
        buckets: LATENCY_BUCKETS.map(() => 0),
      };
      this.series.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= (LATENCY_BUCKETS[i] as number)) (s.buckets[i] as number)++;
  }

  /** `api_http_requests_total` and `api_http_request_duration_seconds`, in the text format. */
  exposition(): string {
    const all = [...this.series.values()].sort((a, b) => (a.labels < b.labels ? -1 : 1));
    const lines = [
      "# HELP api_http_requests_total HTTP requests answered by the API, by route pattern, method and status.",
      "# TYPE api_http_requests_total counter",
      ...all.map((s) => `api_http_requests_total{${s.labels}} ${s.count}`),
      "# HELP api_http_request_duration_seconds Time from receiving a request to answering it, by route pattern, method and status.",
      "# TYPE api_http_request_duration_seconds histogram",
    ];
    for (const s of all) {
      LATENCY_BUCKETS.forEach((le, i) => lines.push(`api_http_request_duration_seconds_bucket{${s.labels},le="${le}"} ${s.buckets[i]}`));
      lines.push(`api_http_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      lines.push(`api_http_request_duration_seconds_sum{${s.labels}} ${s.sum}`);
      lines.push(`api_http_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

/** A metric name as Prometheus allows it: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const metricName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1");

/**
 * The pipeline's counters and gauges (the Redis metrics hash every role flushes into), in the
 * text format: names ending in `_total` are counters, the rest gauges. `up` says whether the
 * hash could be read.
 */
export function pipelineExposition(fields: Record<string, string> | undefined): string {
  const lines = [
    "# HELP pipeline_metrics_up 1 when the pipeline counters could be read from Redis, 0 otherwise.",
    "# TYPE pipeline_metrics_up gauge",
    `pipeline_metrics_up ${fields ? 1 : 0}`,
  ];
  for (const [field, raw] of Object.entries(fields ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const name = metricName(field);
    lines.push(`# TYPE ${name} ${name.endsWith("_total") ? "counter" : "gauge"}`, `${name} ${value}`);
  }
  return `${lines.join("\n")}\n`;
}
