/**
 * Kafka names and clients, one place: the topic, its dead-letter topic, the consumer group ids,
 * and a kafkajs client whose log goes through our logger, over TLS and SASL when the
 * configuration asks for them (./security.ts). Every role and tool makes its clients here.
 */
import { type Admin, type AdminConfig, type Consumer, type ConsumerConfig, Kafka, logLevel as KafkaLevel, type LogEntry, type Producer, type ProducerConfig } from "kafkajs";
import { brokerList, type Config } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import { type GroupRole, type ProjectionSpec, shardsOf } from "../domain/projection.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";
import "./gzip.ts";
import { describeRefusal, type KafkaSecuritySettings, kafkaSecurity } from "./security.ts";

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

/** What to do with the one line of a refused setting: by default, print it and exit with status 2, as a bad variable does. */
export type OnRefusedSettings = (line: string) => void;

const exitWithLine: OnRefusedSettings = (line) => {
  console.error(line);
  process.exit(2);
};

/**
 * A kafkajs client that checks its settings with the broker at once (one admin connection, made
 * when it is created: a role that connects only on its first record still stops at start), and
 * whose producers, consumers and admins, when their connect fails because the broker refused a
 * setting (./security.ts `describeRefusal`), hand the one line naming it to `onRefused` rather
 * than leave the caller to retry for ever. A broker that does not answer is no refusal: the
 * check says nothing, and the roles retry as they always did.
 */
class CheckedKafka extends Kafka {
  constructor(
    config: ConstructorParameters<typeof Kafka>[0],
    private readonly settings: Parameters<typeof describeRefusal>[1],
    private readonly onRefused: OnRefusedSettings,
  ) {
    super(config);
    void this.check(config);
  }

  /** The start-up check: connects an admin of a client of its own, once, without retries or log, and disconnects. */
  private async check(config: ConstructorParameters<typeof Kafka>[0]): Promise<void> {
    const { logCreator: _, ...quiet } = config;
    const admin = this.guard(new Kafka({ ...quiet, logLevel: KafkaLevel.NOTHING, retry: { retries: 0 } }).admin());
    try {
      await admin.connect();
    } catch {
      // A refusal went to onRefused in the guard; anything else is the roles' to retry.
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  private guard<T extends { connect(): Promise<void> }>(client: T): T {
    const connect = client.connect.bind(client);
    client.connect = async () => {
      try {
        await connect();
      } catch (err) {
        const line = await describeRefusal(err, this.settings).catch(() => undefined);
        if (line) this.onRefused(line);
        throw err;
      }
    };
    return client;
  }

  override producer(config?: ProducerConfig): Producer {
    return this.guard(super.producer(config));
  }

  override consumer(config: ConsumerConfig): Consumer {
    return this.guard(super.consumer(config));
  }

  override admin(config?: AdminConfig): Admin {
    return this.guard(super.admin(config));
  }
}

export function createKafka(
  config: Pick<Config, "KAFKA_BROKERS" | "LOG_LEVEL"> & Partial<KafkaSecuritySettings>,
  clientId: string,
  log: Logger,
  onRefused: OnRefusedSettings = exitWithLine,
): Kafka {
  return new CheckedKafka(
    {
      clientId,
      brokers: brokerList(config),
      ...kafkaSecurity(config),
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
    },
    config,
    onRefused,
  );
}
