/**
 * This process's CPU, memory, file descriptors and event-loop lag: prom-client's default metrics,
 * in one registry per process (they describe the process, not an app), started on first use.
 */
import { collectDefaultMetrics, Registry } from "prom-client";

let registry: Registry | undefined;

/** The registry of the default process metrics (`process_*`, `nodejs_*`). */
export function processMetrics(): Registry {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}
