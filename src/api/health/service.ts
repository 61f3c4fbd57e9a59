/**
 * /health: can the API do its job? Redis must answer (every read goes there) and the Kafka
 * brokers must answer (otherwise nothing new arrives). The rest is information for whoever
 * looks: how old the newest transaction is, when the producer last heard from the feed, and
 * how far behind each consumer group is.
 */
import type Redis from "ioredis";
import { ROLES } from "../../groups.ts";
import type { ApiStore } from "../store.ts";
import type { Health } from "./model.ts";
import type { KafkaProbe } from "./kafka.ts";

/** How long the Redis part of /health may take. */
export const REDIS_PING_TIMEOUT_MS = 500;

const within = <T>(work: Promise<T>, ms: number): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class HealthService {
  constructor(
    private readonly redis: Redis,
    private readonly store: ApiStore,
    private readonly kafka: KafkaProbe,
    private readonly newestTime: () => Promise<number | null>,
    private readonly now: () => number,
  ) {}

  async check(): Promise<Health> {
    const [redis, kafka] = await Promise.all([this.checkRedis(), this.kafka.check()]);
    const now = this.now();
    let newest: number | null = null;
    let lastMessageAt: number | null = null;
    let projections: Health["projections"] = [];
    if (redis.ok) {
      const [time, metrics, progress] = await Promise.all([
        within(this.newestTime(), REDIS_PING_TIMEOUT_MS).catch(() => null),
        within(this.store.pipelineMetrics(), REDIS_PING_TIMEOUT_MS).catch(() => ({}) as Record<string, string>),
        within(Promise.all(ROLES.map((role) => this.store.projection(role))), REDIS_PING_TIMEOUT_MS).catch(() => []),
      ]);
      newest = time;
      projections = progress;
      const at = Number(metrics.producer_last_message_at_ms);
      lastMessageAt = Number.isFinite(at) && at > 0 ? at : null;
    }
    const reasons: string[] = [];
    if (!redis.ok) reasons.push(`redis: ${redis.error}`);
    if (!kafka.ok) reasons.push(`kafka: ${kafka.error}`);
    return {
      status: reasons.length ? "unavailable" : "ok",
      reasons,
      redis,
      kafka,
      newest_transaction: { time: newest, age_seconds: newest === null ? null : Math.max(0, now / 1000 - newest) },
      producer_last_message_age_seconds: lastMessageAt === null ? null : Math.max(0, (now - lastMessageAt) / 1000),
      projections,
    };
  }

  private async checkRedis(): Promise<Health["redis"]> {
    const start = performance.now();
    try {
      await within(this.redis.ping(), REDIS_PING_TIMEOUT_MS);
      return { ok: true, latency_ms: Math.round((performance.now() - start) * 1000) / 1000 };
    } catch (err) {
      return { ok: false, latency_ms: null, error: `Redis is not reachable: ${message(err)}` };
    }
  }
}
