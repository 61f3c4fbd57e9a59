/**
 * A test or benchmark namespace's clean-up: its topics and its Redis keys, so runs can share one
 * broker and one Redis server and leave nothing behind.
 */
import type Redis from "ioredis";
import type { Kafka } from "kafkajs";
import type { Config } from "../../src/domain/config.ts";
import { keyPrefix } from "../../src/redis/keys.ts";

/** Deletes a namespace's topics (the topic and its dead letters) and every Redis key under its prefix. */
export async function dropNamespace(kafka: Kafka, redis: Redis, config: Pick<Config, "TOPIC" | "REDIS_PREFIX">): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(config.TOPIC));
  if (topics.length) await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
  // The namespace's tag, and its address shards' tags (`{<prefix>:addresses:...}`, src/redis/keys.ts).
  for (const pattern of [`${keyPrefix(config)}*`, `{${config.REDIS_PREFIX}:*`]) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 5000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  }
}
