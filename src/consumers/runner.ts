/**
 * The consumer runner, shared by the three groups: wires a kafkajs consumer of the topic to the
 * group's processing, and starts and stops it all. Each part has its own file:
 *   - ./batch.ts      one fetched batch: decode (./decode.ts), dead letters, apply, resolve;
 *   - ./refusals.ts   records a script refuses, dead-lettered one by one;
 *   - ./positions.ts  where each partition reads from: Redis's position, or a replay;
 *   - ./upkeep.ts     the group's tick on a timer;
 *   - ./context.ts    what these parts share.
 * Dead letters go out through src/kafka/dlq.ts (format, cut, chunks). Redis's position is the
 * truth, not Kafka's committed offset. `stop` finishes the batch in hand, commits, leaves the
 * group.
 */
import type Redis from "ioredis";
import { type Consumer, type Kafka, Partitioners, type Producer } from "kafkajs";
import { backoffStep } from "../domain/backoff.ts";
import type { Config } from "../domain/config.ts";
import { createLogger, type Logger } from "../domain/log.ts";
import { Metrics } from "../domain/metrics.ts";
import { onShutdown } from "../domain/shutdown.ts";
import { createKafka, dlqTopic, groupId } from "../kafka/client.ts";
import { sendDeadLetters } from "../kafka/dlq.ts";
import { ensureTopics } from "../kafka/topic.ts";
import { redisClock } from "../redis/clock.ts";
import { connectRedis } from "../redis/connection.ts";
import { metricsKey } from "../redis/keys.ts";
import { defineScripts } from "../redis/loader.ts";
import { checkRedis, RedisRequirementError } from "../redis/requirements.ts";
import { batchHandler } from "./batch.ts";
import type { RunnerContext } from "./context.ts";
import type { GroupProcessor } from "./group.ts";
import { createPositions } from "./positions.ts";
import { startUpkeep } from "./upkeep.ts";

export interface RunnerOptions {
  config: Config;
  group: GroupProcessor;
  log?: Logger;
  /** Created from the config when absent (and then closed by `stop`). */
  kafka?: Kafka;
  redis?: Redis;
  /** Partitions whose batches are applied at the same time by this process. */
  partitionsConsumedConcurrently?: number;
  /** Called when the consumer cannot go on (kafkajs crashed and could not be started again, or a partition is stuck). */
  onFatal?: (err: Error) => void;
}

export interface ConsumerRunner {
  readonly groupId: string;
  readonly metrics: Metrics;
  /** Ensures the topics, joins the group, starts consuming; resolves once the group is joined. */
  start(): Promise<void>;
  /** Finishes the batch in hand, commits, leaves the group, closes what it opened. */
  stop(): Promise<void>;
}

/** Attempts at joining the group (at start, or after kafkajs gave up) that fail in a row before the process exits. */
export const RESTARTS_BEFORE_EXIT = 10;

/** How long the group waits for a silent member before giving its partitions to the others. */
export const SESSION_TIMEOUT_MS = 10_000;

export function createConsumerRunner(options: RunnerOptions): ConsumerRunner {
  const { config, group } = options;
  const role = group.spec.role;
  const id = groupId(config, group.spec, group.shard);
  const log = options.log ?? createLogger(`consumer-${role}`, config);
  const ownRedis = !options.redis;
  const kafka = options.kafka ?? createKafka(config, `consumer-${role}-${process.pid}`, log);
  const redis = options.redis ?? defineScripts(connectRedis(config.REDIS_URL, log));
  defineScripts(redis);
  const clock = redisClock(redis);
  const metrics = new Metrics();
  const dlq = dlqTopic(config);
  const topic = config.TOPIC;

  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let stopFlushing: (() => Promise<void>) | undefined;
  let stopUpkeep: (() => void) | undefined;

  const ctx: RunnerContext = {
    config,
    group,
    role,
    id,
    redis,
    clock,
    metrics,
    log,
    metric: (name) => `consumer_${role}_${name}`,
    async deadLetter(letters) {
      if (producer) await sendDeadLetters(producer, dlq, letters);
    },
  };
  let stuck = false;
  const positions = createPositions(
    ctx,
    kafka,
    (partition, offset) => consumer?.seek({ topic, partition, offset }),
    // A partition that cannot move: one line, and out, so that a supervisor restarts the process.
    (why) => {
      if (stuck) return;
      stuck = true;
      log.error(`${why}; exiting so that it is restarted`);
      options.onFatal?.(new Error(why));
    },
  );
  const eachBatch = batchHandler(ctx, positions);

  let stopping = false;
  /**
   * Joins with a new Kafka consumer, trying again after a backoff (a topic just created that a
   * broker does not host yet, a broker away); rejects after RESTARTS_BEFORE_EXIT failures in a row.
   */
  async function join(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await consume();
      } catch (err) {
        await consumer?.disconnect().catch(() => {});
        if (stopping || attempt + 1 >= RESTARTS_BEFORE_EXIT) throw err;
        log.warn(`${role}: could not join the group, trying again`, { error: String(err), attempt: attempt + 1 });
        await Bun.sleep(backoffStep(attempt, 1_000, 30_000));
      }
    }
  }

  /**
   * kafkajs gave up (its retries ran out while a broker was away: "Failed to find group
   * coordinator"): a new consumer joins again. When it cannot, the process exits for its
   * supervisor; a consumer that joins but cannot move ends by STUCK_EXIT_SECONDS (./positions.ts).
   */
  async function restart(error: Error): Promise<void> {
    if (stopping) return;
    log.error(`${role}: the Kafka consumer crashed and kafkajs will not restart it; starting a new one`, { error: String(error) });
    metrics.inc(ctx.metric("consumer_restarts_total"));
    await consumer?.disconnect().catch(() => {});
    try {
      await join();
    } catch (err) {
      if (stopping) return;
      log.error(`${role}: the Kafka consumer could not join again ${RESTARTS_BEFORE_EXIT} times; exiting so that it is restarted`, { error: String(err) });
      options.onFatal?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Joins the group and starts consuming; resolves once joined. */
  async function consume(): Promise<void> {
    consumer = kafka.consumer({
      groupId: id,
      // About 1,500 records: one batch is a pipeline of a few script calls, well inside the session timeout.
      maxBytesPerPartition: 1024 * 1024,
      // A fetch waits at most 1 s for new records: stopping (which waits for the fetch in flight) stays quick.
      maxWaitTimeInMs: 1_000,
      // A process that died (kill -9, crash) loses its partitions after 10 s rather than kafkajs' 30 s.
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: SESSION_TIMEOUT_MS / 5,
    });
    let isJoined = false;
    const joined = new Promise<void>((resolve, reject) => {
      consumer?.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        // Resume every partition from the position Redis holds.
        positions.assign(payload.memberAssignment[topic] ?? []);
        isJoined = true;
        resolve();
      });
      // A crash kafkajs will not restart from: before the join, this start fails; after it, a new consumer.
      consumer?.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart) return;
        if (isJoined) void restart(payload.error);
        else reject(payload.error);
      });
    });
    // Rejected before it is awaited (connect failed first): not an unhandled rejection.
    joined.catch(() => {});
    await consumer.connect();
    // Where to start is Redis's position (checked on every batch); a group Kafka has no offset
    // for starts at the oldest retained record, and the first batch then finds Redis's position.
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? config.TOPIC_PARTITIONS,
      eachBatch,
    });
    await joined;
  }

  return {
    groupId: id,
    metrics,
    async start() {
      // A Redis that does not fit rejects (the role exits 2); one that does not answer yet is retried as usual.
      await checkRedis(redis).catch((err) => {
        if (err instanceof RedisRequirementError) throw err;
        log.warn(`${role}: could not check Redis at start, going on`, { error: String(err) });
      });
      await ensureTopics(kafka, config, log);
      await clock.sync();
      // Dead letters: one partition, no key; the partitioner is named only to keep kafkajs quiet about its v2 default.
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      stopFlushing = metrics.startFlushing(redis, metricsKey(config));
      stopUpkeep = await startUpkeep(ctx);
      await join();
      positions.startWatching();
      log.info(`${role}: consuming ${topic} as group ${id}`);
    },
    async stop() {
      stopping = true;
      stopUpkeep?.();
      positions.stopWatching();
      clock.stop();
      // kafkajs: stops fetching, waits for the batch in hand, commits resolved offsets, leaves the group.
      await consumer?.disconnect();
      await producer?.disconnect();
      await positions.close();
      await stopFlushing?.();
      if (ownRedis) await redis.quit().catch(() => redis.disconnect());
      log.info(`${role}: stopped`, metrics.snapshot());
    },
  };
}

/**
 * A role's entry point: config, logger, one runner per processor (one, or one per shard of a
 * sharded projection), graceful shutdown; exits 1 when it cannot run.
 */
export async function runConsumerRole(config: Config, groups: readonly GroupProcessor[]): Promise<void> {
  const role = (groups[0] as GroupProcessor).spec.role;
  const log = createLogger(`consumer-${role}`, config);
  const runners = groups.map((group) => createConsumerRunner({ config, group, log, onFatal: () => process.exit(1) }));
  onShutdown(log, async () => {
    await Promise.all(runners.map((r) => r.stop()));
  });
  try {
    await Promise.all(runners.map((r) => r.start()));
  } catch (err) {
    if (err instanceof RedisRequirementError) {
      console.error(err.message);
      process.exit(2);
    }
    log.error(`${role}: could not start`, { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}
