/**
 * Makes sure the topic and its dead-letter topic exist, with the configured partitions,
 * replication and retention. An existing topic is used as it is; a partition count other than
 * the configured one is logged as a warning.
 */
import type { Admin, Kafka } from "kafkajs";
import { backoffStep } from "../domain/backoff.ts";
import type { Config } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import { dlqTopic } from "./client.ts";

type TopicConfig = Pick<Config, "TOPIC" | "TOPIC_PARTITIONS" | "TOPIC_REPLICATION" | "TOPIC_RETENTION_HOURS">;

/** Returns the partition count of the main topic as found or created. */
/** Attempts at reading a topic's metadata while its brokers do not host it yet (a topic just created on a cluster). */
const METADATA_ATTEMPTS = 10;

/**
 * The topic's partition count. On a cluster, a broker can answer "does not host this
 * topic-partition" for a moment after another process created the topic, after kafkajs's own
 * retries: tried again with a backoff (0.5 s doubling to 5 s), then the error stands.
 */
async function partitionCount(admin: Admin, topic: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      return meta.topics[0]?.partitions.length ?? 0;
    } catch (err) {
      const notYet = /does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION|LEADER_NOT_AVAILABLE|leader/i.test(`${(err as { type?: string }).type ?? ""} ${String(err)}`);
      if (!notYet || attempt + 1 >= METADATA_ATTEMPTS) throw err;
      await Bun.sleep(backoffStep(attempt, 500, 5_000));
    }
  }
}

export async function ensureTopics(kafka: Kafka, config: TopicConfig, log: Logger): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const retention = String(config.TOPIC_RETENTION_HOURS * 3_600_000);
    const existing = new Set(await admin.listTopics());
    const wanted = [
      { topic: config.TOPIC, numPartitions: config.TOPIC_PARTITIONS },
      // Dead letters are few and read by people: one partition, kept as long as the topic.
      { topic: dlqTopic(config), numPartitions: 1 },
    ].filter((t) => !existing.has(t.topic));
    if (wanted.length) {
      await admin
        .createTopics({
          waitForLeaders: true,
          // kafkajs waits 10 s for the leaders by default; a busy machine can take longer.
          timeout: 30_000,
          topics: wanted.map((t) => ({
            ...t,
            replicationFactor: config.TOPIC_REPLICATION,
            configEntries: [{ name: "retention.ms", value: retention }],
          })),
        })
        // Another process may have created it between list and create: that is fine.
        .catch((err: Error) => {
          if (!/already exists/i.test(err.message)) throw err;
        });
      for (const t of wanted)
        log.info(`created topic ${t.topic}`, { partitions: t.numPartitions, replication: config.TOPIC_REPLICATION, retention_hours: config.TOPIC_RETENTION_HOURS });
    }
    const partitions = await partitionCount(admin, config.TOPIC);
    if (partitions !== config.TOPIC_PARTITIONS) {
      log.warn(`topic ${config.TOPIC} has ${partitions} partitions, not the configured ${config.TOPIC_PARTITIONS}; using it as it is`);
    }
    return partitions;
  } finally {
    await admin.disconnect();
  }
}
