/**
 * What the parts of one consumer runner share (runner.ts builds it once): the group, its ids, its
 * Redis and Redis's clock, its metrics and log, and the way out for dead letters.
 */
import type Redis from "ioredis";
import type { Message } from "kafkajs";
import type { Config } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import type { Metrics } from "../domain/metrics.ts";
import type { GroupRole } from "../domain/projection.ts";
import type { Clock } from "../redis/clock.ts";
import type { GroupProcessor } from "./group.ts";

export interface RunnerContext {
  readonly config: Config;
  readonly group: GroupProcessor;
  readonly role: GroupRole;
  /** The Kafka consumer group id: the `source` of this group's dead letters. */
  readonly id: string;
  readonly redis: Redis;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The name of one of this group's metrics: `consumer_<role>_<name>`. */
  metric(name: string): string;
  /** Sends dead letters to `<TOPIC>.dlq` (src/kafka/dlq.ts); rejects when Kafka did not take them. */
  deadLetter(letters: Message[]): Promise<void>;
}
