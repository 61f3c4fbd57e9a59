/**
 * Kafka names and clients, one place: the topic, its dead-letter topic, the consumer group ids,
 * and a kafkajs client whose log goes through our logger.
 */
import { Kafka, logLevel as KafkaLevel, type LogEntry } from "kafkajs";
import { brokerList, type Config } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import { type GroupRole, type ProjectionSpec, shardsOf } from "../domain/projection.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";

/**
 * A group's Kafka id: GROUP_PREFIX and its spec's id (src/domain/projection.ts); a shard of a
 * sharded projection (src/domain/shards.ts) is a group of its own, `<id>-<shard>`.
 */
export const groupId = (config: Pick<Config, "GROUP_PREFIX">, spec: Pick<ProjectionSpec, "group">, shard: Shard = WHOLE) =>
  `${config.GROUP_PREFIX}${spec.group}${shard.of === 1 ? "" : `-${shard.index}`}`;

/** A consumer group: its projection's role and its Kafka id. */
export type ConsumerGroup = { role: GroupRole; group: string };

/** Every consumer group of `specs` with its Kafka id, in their order, a group per shard of a sharded one (what /health probes). */
export const consumerGroups = (config: Pick<Config, "GROUP_PREFIX"> & Partial<Pick<Config, "ADDRESS_SHARDS">>, specs: readonly ProjectionSpec[]): ConsumerGroup[] =>
  specs.flatMap((spec) => shardsOf(spec, config).map((shard) => ({ role: spec.role, group: groupId(config, spec, shard) })));

/** Dead letters of the feed and of every consumer group. */
export const dlqTopic = (config: Pick<Config, "TOPIC">) => `${config.TOPIC}.dlq`;

const LEVEL: Record<Config["LOG_LEVEL"], KafkaLevel> = {
  debug: KafkaLevel.DEBUG,
  info: KafkaLevel.WARN, // kafkajs' INFO is chatty (every join and commit): keep it at warn unless debugging
  warn: KafkaLevel.WARN,
  error: KafkaLevel.ERROR,
};

export function createKafka(config: Pick<Config, "KAFKA_BROKERS" | "LOG_LEVEL">, clientId: string, log: Logger): Kafka {
  return new Kafka({
    clientId,
    brokers: brokerList(config),
    logLevel: LEVEL[config.LOG_LEVEL],
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        const text = `kafkajs: ${message}`;
        // "Response X" lines are a broker's error answer to one request ("coordinator is loading",
        // "topic already exists" at start-up); kafkajs retries them or throws to the caller, who
        // reports what matters. Logged at error they would alarm for nothing.
        if (message.startsWith("Response ")) log.debug(text, fields);
        else if (level <= KafkaLevel.ERROR) log.limited(`kafkajs:${message}`, "error", text, fields);
        else if (level === KafkaLevel.WARN) log.limited(`kafkajs:${message}`, "warn", text, fields);
        else log.debug(text, fields);
      },
  });
}
