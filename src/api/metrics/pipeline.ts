/**
 * The pipeline's counters and gauges, as every role flushes them into the Redis metrics hash
 * (src/domain/metrics.ts), turned into prom-client metrics. The hash's fields are only known once it
 * is read, so each scrape gets a fresh registry with one metric per field.
 */
import { Counter, Gauge, Registry } from "prom-client";

/** A metric name as Prometheus allows it: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const metricName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1");

/**
 * `pipeline_metrics_up` (whether the hash could be read, `fields` undefined when not) and one
 * metric per numeric field: names ending in `_total` are counters, the rest gauges. A field whose
 * name is taken (by `taken` or by an earlier field with the same Prometheus name) is left out.
 */
export function pipelineMetrics(fields: Record<string, string> | undefined, taken: Registry): Registry {
  const registry = new Registry();
  new Gauge({
    name: "pipeline_metrics_up",
    help: "1 when the pipeline counters could be read from Redis, 0 otherwise.",
    registers: [registry],
  }).set(fields ? 1 : 0);
  for (const [field, raw] of Object.entries(fields ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const value = Number(raw);
    const name = metricName(field);
    if (!Number.isFinite(value) || !name || registry.getSingleMetric(name) || taken.getSingleMetric(name)) continue;
    if (!name.endsWith("_total")) new Gauge({ name, help: "As last set by a process of its role (Redis metrics hash).", registers: [registry] }).set(value);
    else if (value >= 0) new Counter({ name, help: "Summed over the processes of its role (Redis metrics hash).", registers: [registry] }).inc(value); // a counter never goes below 0
  }
  return registry;
}
