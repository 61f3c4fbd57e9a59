/**
 * Kafka names and clients, one place: the topic, its dead-letter topic, the consumer group ids,
 * and a kafkajs client whose log goes through our logger.
 */
import { Kafka, logLevel as KafkaLevel, type LogEntry } from "kafkajs";
import { brokerList, type Config } from "../domain/config.ts";
import { GROUPS, type GroupRole, ROLES } from "../domain/groups.ts";
import type { Logger } from "../domain/log.ts";
import { addressShards, type Shard, WHOLE } from "../domain/shards.ts";

export { GROUPS, type GroupRole };

/**
 * A group's Kafka id: GROUP_PREFIX and the registry's id (src/domain/groups.ts); a shard of the
 * address projection (src/domain/shards.ts) is a group of its own, `<id>-<shard>`.
 */
export const groupId = (config: Pick<Config, "GROUP_PREFIX">, role: GroupRole, shard: Shard = WHOLE) =>
  `${config.GROUP_PREFIX}${GROUPS[role]}${shard.of === 1 ? "" : `-${shard.index}`}`;

/** A consumer group: its role in the registry and its Kafka id. */
export type ConsumerGroup = { role: GroupRole; group: string };

/** Every consumer group with its Kafka id, in the registry's order, a shard each for the addresses (what /health probes). */
export const consumerGroups = (config: Pick<Config, "GROUP_PREFIX"> & Partial<Pick<Config, "ADDRESS_SHARDS">>): ConsumerGroup[] =>
  ROLES.flatMap((role) => (role === "addresses" ? addressShards(config) : [WHOLE]).map((shard) => ({ role, group: groupId(config, role, shard) })));

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
