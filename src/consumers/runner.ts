/**
 * The consumer transport, shared by the three groups: a kafkajs consumer that, per batch,
 *   1. decodes every record; a poison record (not JSON, not a Transaction, unknown schema
 *      version, a time over an hour ahead) becomes a dead letter on `<TOPIC>.dlq` (source = the
 *      group id, the reason, the origin topic/partition/offset);
 *   2. hands the valid transactions to the group's `apply` once (one Redis round trip), in
 *      parallel with sending the batch's dead letters;
 *   3. only when both are acknowledged, resolves the batch's last offset; kafkajs commits it
 *      right after the batch.
 * A crash between 2 and 3 redelivers the batch: the scripts' dedupe makes the replay a no-op.
 * When Redis (or the dead-letter send) fails, the batch is retried with backoff, heartbeating,
 * until it succeeds, the group rebalances (kafkajs re-fetches) or the consumer stops; nothing is
 * committed meanwhile. `stop` finishes the batch in hand, commits, leaves the group.
 */
import Redis from "ioredis";
import { type Consumer, type EachBatchPayload, type Kafka, type Message, Partitioners, type Producer } from "kafkajs";
import type { Config } from "../config.ts";
import { createKafka, dlqTopic, groupId } from "../kafka/client.ts";
import { deadLetterMessage } from "../kafka/dlq.ts";
import { ensureTopics } from "../kafka/topic.ts";
import { createLogger, type Logger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { metricsKey } from "../redis/keys.ts";
import { defineScripts } from "../redis/loader.ts";
import type { ApplyResult } from "../redis/scripts.ts";
import { onShutdown } from "../shutdown.ts";
import { checkTransaction, SCHEMA_VERSION, type Transaction } from "../transaction.ts";
import type { GroupProcessor } from "./group.ts";
import { readRebuildStatus } from "../rebuild/status.ts";
import { WATCHDOG_TIMEOUT_MS, watchConnection } from "../redis/watchdog.ts";
import { toSec } from "./state.ts";

export type Decoded = { ok: true; tx: Transaction } | { ok: false; reason: string };

/**
 * How far ahead of the consumer's clock a transaction's time may be. The producer already counts
 * a transaction stamped more than 5 minutes ahead at its arrival time; a record further ahead
 * comes from a broken clock and would create keys that outlive everything else.
 */
export const MAX_AHEAD_SECONDS = 3600;

/** Reads one record value: JSON, then the schema version, then the Transaction schema, then its time. */
export function decodeRecord(value: Buffer | null, nowSec = Date.now() / 1000): Decoded {
  if (value === null || value.length === 0) return { ok: false, reason: "empty record value" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch {
    return { ok: false, reason: "record value is not JSON" };
  }
  if (parsed !== null && typeof parsed === "object" && "v" in parsed && parsed.v !== SCHEMA_VERSION) {
    return { ok: false, reason: `unknown schema version ${JSON.stringify(parsed.v)}: this consumer reads version ${SCHEMA_VERSION}` };
  }
  const checked = checkTransaction(parsed);
  if (!checked.ok) return { ok: false, reason: `not a valid transaction: ${checked.reason}` };
  if (checked.tx.time > nowSec + MAX_AHEAD_SECONDS) {
    return { ok: false, reason: `time ${checked.tx.time} is more than ${MAX_AHEAD_SECONDS} s ahead of this consumer's clock (${Math.floor(nowSec)})` };
  }
  return checked;
}

/** Kafka's default request limit is 1 MB: dead letters go in requests well under it. */
const DLQ_REQUEST_BYTES = 512 * 1024;
/** A single dead letter too large even alone keeps this much of its payload (and says so in a header). */
const DLQ_TRUNCATE_BYTES = 256 * 1024;

async function sendDeadLetters(producer: Producer, topic: string, messages: Message[]): Promise<void> {
  const size = (m: Message) => (m.value?.length ?? 0) + 512;
  let chunk: Message[] = [];
  let bytes = 0;
  const flush = async () => {
    if (!chunk.length) return;
    try {
      await producer.send({ topic, acks: -1, messages: chunk });
    } catch (err) {
      const only = chunk[0];
      if (chunk.length !== 1 || !only || (err as { type?: string }).type !== "MESSAGE_TOO_LARGE") throw err;
      const raw = Buffer.isBuffer(only.value) ? only.value : Buffer.from(String(only.value ?? ""));
      const headers = { ...(only.headers ?? {}), truncated_from_bytes: String(raw.length) };
      await producer.send({ topic, acks: -1, messages: [{ ...only, value: raw.subarray(0, DLQ_TRUNCATE_BYTES), headers }] });
    }
    chunk = [];
    bytes = 0;
  };
  for (const m of messages) {
    if (chunk.length && bytes + size(m) > DLQ_REQUEST_BYTES) await flush();
    chunk.push(m);
    bytes += size(m);
  }
  await flush();
}

export interface RunnerOptions {
  config: Config;
  group: GroupProcessor;
  log?: Logger;
  /** Created from the config when absent (and then closed by `stop`). */
  kafka?: Kafka;
  redis?: Redis;
  /** The consumer's clock, unix ms (tests move it). */
  now?: () => number;
  /** Partitions whose batches are applied at the same time by this process. */
  partitionsConsumedConcurrently?: number;
  /** Called when kafkajs gives up (a crash it will not restart from). */
  onFatal?: (err: Error) => void;
  /**
   * Leave the group while `bun run rebuild` rebuilds it, and join again when it is done (the
   * roles do; the rebuild's own runner does not). Watched every `REBUILD_WATCH_MS`.
   */
  stepAsideForRebuild?: boolean;
  /** Send poison records to the dead-letter topic (default). A rebuild replays records that were already dead-lettered once. */
  deadLetters?: boolean;
}

export interface ConsumerRunner {
  readonly groupId: string;
  readonly metrics: Metrics;
  /** Ensures the topics, joins the group, starts consuming; resolves once the group is joined. */
  start(): Promise<void>;
  /** Finishes the batch in hand, commits, leaves the group, closes what it opened. */
  stop(): Promise<void>;
}

/** How often a role checks whether a rebuild wants its group. */
export const REBUILD_WATCH_MS = 1_000;

/** How long the group waits for a silent member before giving its partitions to the others. */
export const SESSION_TIMEOUT_MS = 10_000;

/** Backoff between attempts at a batch Redis did not acknowledge: 100 ms doubling to 5 s. */
const backoffMs = (attempt: number) => Math.min(100 * 2 ** (attempt - 1), 5_000);

/**
 * How long a Redis command may go unanswered before it fails (and its batch is retried). Script
 * calls take milliseconds; this only ends a wait on a connection that will never answer, which
 * the watchdog (src/redis/watchdog.ts) then replaces.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;

/** A Redis client for a consumer: commands fail within a second or two while Redis is away (the batch is retried) instead of waiting in the offline queue. */
export function createConsumerRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 2,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on("error", (err: Error) => log.limited("redis:error", "warn", `redis: ${err.message}`));
  watchConnection(redis, () => log.warn(`redis: no answer to PING within ${WATCHDOG_TIMEOUT_MS} ms; replacing the connection`));
  return defineScripts(redis);
}

export function createConsumerRunner(options: RunnerOptions): ConsumerRunner {
  const { config, group } = options;
  const role = group.role;
  const id = groupId(config, role);
  const log = options.log ?? createLogger(`consumer-${role}`, config);
  const now = options.now ?? Date.now;
  const ownRedis = !options.redis;
  const kafka = options.kafka ?? createKafka(config, `consumer-${role}-${process.pid}`, log);
  const redis = options.redis ?? createConsumerRedis(config.REDIS_URL, log);
  defineScripts(redis);
  const metrics = new Metrics();
  const metric = (name: string) => `consumer_${role}_${name}`;
  const dlq = dlqTopic(config);

  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let stopFlushing: (() => Promise<void>) | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let ticking = false;
  let watcher: ReturnType<typeof setInterval> | undefined;
  /** Out of the group while a rebuild replays it. */
  let asideForRebuild = false;
  let switching = false;

  const tick = async () => {
    // Aside for a rebuild: the group's keys are the rebuild's until it is done.
    if (!group.tick || ticking || asideForRebuild) return;
    ticking = true;
    try {
      await group.tick(redis, toSec(now()));
    } catch (err) {
      log.limited(`tick:${role}`, "warn", `${role}: upkeep failed, will retry`, { error: String(err) });
    } finally {
      ticking = false;
    }
  };

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    const txs: Transaction[] = [];
    const dead: Message[] = [];
    for (const m of batch.messages) {
      const decoded = decodeRecord(m.value, now() / 1000);
      if (decoded.ok) txs.push(decoded.tx);
      else {
        dead.push(deadLetterMessage({ source: id, reason: decoded.reason, raw: m.value, origin: { topic: batch.topic, partition: batch.partition, offset: m.offset } }));
        log.limited(`dead:${role}`, "warn", `${role}: dead letter: ${decoded.reason}`, { partition: batch.partition, offset: m.offset });
      }
    }

    let result: ApplyResult | undefined = txs.length ? undefined : { applied: 0, duplicates: 0, stale: 0 };
    let deadSent = dead.length === 0;
    for (let attempt = 1; ; attempt++) {
      // Stopping or lost the partition: leave the batch unresolved, it will be redelivered.
      if (!isRunning() || isStale()) return;
      const [applied, sent] = await Promise.allSettled([
        result ? Promise.resolve(result) : group.apply(redis, txs, toSec(now())),
        deadSent || !producer ? Promise.resolve() : sendDeadLetters(producer, dlq, dead),
      ]);
      if (applied.status === "fulfilled") result = applied.value;
      if (sent.status === "fulfilled") deadSent = true;
      if (result && deadSent) break;
      const error = applied.status === "rejected" ? applied.reason : sent.status === "rejected" ? sent.reason : undefined;
      metrics.inc(metric("retries_total"));
      log.limited(`retry:${role}`, "warn", `${role}: batch not applied (${applied.status === "rejected" ? "Redis" : "dead-letter topic"}), retrying; nothing is committed meanwhile`, {
        partition: batch.partition,
        offset: batch.firstOffset(),
        attempt,
        error: String(error),
      });
      await Bun.sleep(backoffMs(attempt));
      await heartbeat();
    }

    resolveOffset(last.offset);
    metrics.inc(metric("applied_total"), result.applied);
    metrics.inc(metric("duplicates_total"), result.duplicates);
    metrics.inc(metric("stale_total"), result.stale);
    metrics.inc(metric("dead_letters_total"), dead.length);
    metrics.inc(metric("batches_total"));
    metrics.set(metric("last_batch_at_ms"), now());
    await heartbeat();
  }

  /** Joins the group and starts consuming; resolves once joined. */
  async function consume(): Promise<void> {
    consumer = kafka.consumer({
      groupId: id,
      maxBytesPerPartition: 4 * 1024 * 1024,
      // A fetch waits at most 1 s for new records: stopping (which waits for the fetch in flight) stays quick.
      maxWaitTimeInMs: 1_000,
      // A process that died (kill -9, crash) loses its partitions after 10 s rather than kafkajs' 30 s.
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: SESSION_TIMEOUT_MS / 5,
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) {
        log.error(`${role}: the Kafka consumer crashed and will not restart`, { error: String(payload.error) });
        options.onFatal?.(payload.error);
      }
    });
    const joined = new Promise<void>((resolve) => consumer?.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    // A new group starts at the oldest retained record: the log covers more than the window.
    await consumer.subscribe({ topic: config.TOPIC, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? config.TOPIC_PARTITIONS,
      eachBatch,
    });
    await joined;
  }

  /** Leaves the group while a rebuild wants it; joins again when the rebuild has moved on. */
  async function watchRebuild(): Promise<void> {
    if (switching) return;
    switching = true;
    try {
      const rebuilding = (await readRebuildStatus(redis, config))?.group === id;
      if (rebuilding && !asideForRebuild) {
        log.info(`${role}: a rebuild of group ${id} runs; leaving the group until it is done`);
        asideForRebuild = true;
        await consumer?.disconnect();
        consumer = undefined;
      } else if (!rebuilding && asideForRebuild) {
        log.info(`${role}: the rebuild of group ${id} is done; joining the group again`);
        await consume();
        asideForRebuild = false;
      }
    } catch (err) {
      log.limited(`rebuild-watch:${role}`, "warn", `${role}: could not check for a rebuild, will retry`, { error: String(err) });
    } finally {
      switching = false;
    }
  }

  return {
    groupId: id,
    metrics,
    async start() {
      await ensureTopics(kafka, config, log);
      // Dead letters: one partition, no key; the partitioner is named only to keep kafkajs quiet about its v2 default.
      if (options.deadLetters !== false) producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await producer?.connect();
      stopFlushing = metrics.startFlushing(redis, metricsKey(config));
      await tick();
      if (group.tick) ticker = setInterval(tick, group.tickEveryMs ?? 10_000);
      await consume();
      if (options.stepAsideForRebuild) watcher = setInterval(watchRebuild, REBUILD_WATCH_MS);
      log.info(`${role}: consuming ${config.TOPIC} as group ${id}`);
    },
    async stop() {
      if (ticker) clearInterval(ticker);
      if (watcher) clearInterval(watcher);
      // kafkajs: stops fetching, waits for the batch in hand, commits resolved offsets, leaves the group.
      await consumer?.disconnect();
      await producer?.disconnect();
      await stopFlushing?.();
      if (ownRedis) await redis.quit().catch(() => redis.disconnect());
      log.info(`${role}: stopped`, metrics.snapshot());
    },
  };
}

/** A role's entry point: config, logger, the runner, graceful shutdown; exits 1 when it cannot run. */
export async function runConsumerRole(config: Config, makeGroup: (config: Config) => GroupProcessor): Promise<void> {
  const group = makeGroup(config);
  const log = createLogger(`consumer-${group.role}`, config);
  const runner = createConsumerRunner({
    config,
    group,
    log,
    onFatal: () => process.exit(1),
    stepAsideForRebuild: true,
  });
  onShutdown(log, () => runner.stop());
  try {
    await runner.start();
  } catch (err) {
    log.error(`${group.role}: could not start`, { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}
