/**
 * The /stream figures of this process (live connections, clients dropped or refused) as
 * prom-client metrics read from the broadcaster each time they are scraped.
 */
import { Counter, Gauge, Registry } from "prom-client";

export interface StreamStats {
  clients: number;
  dropped: number;
  refused: number;
}

/** `api_stream_clients`, `api_stream_dropped_total` and `api_stream_refused_total`, read from `stats` at scrape time. */
export function streamMetrics(stats: () => StreamStats): Registry {
  const registry = new Registry();
  new Gauge({
    name: "api_stream_clients",
    help: "live /stream connections",
    registers: [registry],
    collect() {
      this.set(stats().clients);
    },
  });
  // The broadcaster keeps the totals; a scrape copies them (a prom-client counter has no `set`).
  const copied = (name: string, help: string, read: (s: StreamStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(stats()));
      },
    });
  copied("api_stream_dropped_total", "/stream clients disconnected for not keeping up", (s) => s.dropped);
  copied("api_stream_refused_total", "/stream connections refused by the caps", (s) => s.refused);
  return registry;
}
