/**
 * Pipeline metrics. Each process counts in memory and flushes once a second to one Redis hash
 * (`metricsKey`): counters as HINCRBY of what was added since the last flush, so several
 * processes of a role add up; gauges as HSET. The API reads that hash for /metrics and /health.
 */
import type Redis from "ioredis";

export class Metrics {
  private readonly totals = new Map<string, number>();
  private readonly pending = new Map<string, number>();
  private readonly gauges = new Map<string, number>();

  /** Adds `n` to a counter (names end in `_total`). */
  inc(name: string, n = 1): void {
    this.totals.set(name, (this.totals.get(name) ?? 0) + n);
    this.pending.set(name, (this.pending.get(name) ?? 0) + n);
  }

  /** Sets a gauge. */
  set(name: string, value: number): void {
    this.gauges.set(name, value);
  }

  /** This process's counters and gauges. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.totals, ...this.gauges]);
  }

  /** Writes what changed since the last flush; one round trip. */
  async flush(redis: Redis, key: string): Promise<void> {
    if (!this.pending.size && !this.gauges.size) return;
    const pipeline = redis.pipeline();
    const pending = [...this.pending];
    this.pending.clear();
    for (const [name, n] of pending) pipeline.hincrby(key, name, n);
    if (this.gauges.size) pipeline.hset(key, Object.fromEntries(this.gauges));
    try {
      await pipeline.exec();
    } catch (err) {
      // Redis away: keep the deltas for the next flush rather than lose them.
      for (const [name, n] of pending) this.pending.set(name, (this.pending.get(name) ?? 0) + n);
      throw err;
    }
  }

  /** Flushes every `everyMs` until the returned function is called (which flushes once more). */
  startFlushing(redis: Redis, key: string, everyMs = 1_000): () => Promise<void> {
    const timer = setInterval(() => this.flush(redis, key).catch(() => {}), everyMs);
    return async () => {
      clearInterval(timer);
      await this.flush(redis, key).catch(() => {});
    };
  }
}
