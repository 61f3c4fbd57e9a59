/**
 * The consumer transport, shared by the three groups: a kafkajs consumer that, per batch,
 *   1. decodes every record; a poison record (not JSON, not a Transaction, unknown schema
 *      version, a time over an hour ahead) becomes a dead letter on `<TOPIC>.dlq` (source = the
 *      group id, the reason, the origin topic/partition/offset), sent first;
 *   2. hands the valid transactions to the group's `apply` (one Redis round trip) with the
 *      stretch of offsets the batch covers: the scripts apply it only when the group's position
 *      in Redis is where the batch starts, and move the position with the effects, atomically;
 *   3. resolves the batch's last offset; kafkajs commits it (for lag monitoring and tools).
 *
 * Redis's position is the truth, not Kafka's committed offset. When a script refuses a batch
 * because the position differs (a redelivery, a rebalance, Redis restored from an older
 * snapshot), the consumer seeks to Redis's position. When Redis has no position (a new or
 * emptied Redis, a dropped projection), the consumer starts a replay: from the first record
 * the projection can still hold (REPLAY_LOOKBACK_SECONDS), into the empty projection. A watch
 * every `POSITION_WATCH_MS` does the same for an idle partition, so an emptied Redis heals with
 * no new record and no command typed.
 *
 * When Redis (or the dead-letter send) fails, the batch is retried with backoff, heartbeating,
 * until it succeeds, the group rebalances (kafkajs re-fetches) or the consumer stops; nothing is
 * committed meanwhile. `stop` finishes the batch in hand, commits, leaves the group.
 */
import type Redis from "ioredis";
import { type Admin, type Consumer, type EachBatchPayload, type Kafka, type Message, Partitioners, type Producer } from "kafkajs";
import type { Config } from "../domain/config.ts";
import { REPLAY_LOOKBACK_SECONDS } from "../domain/groups.ts";
import { createLogger, type Logger } from "../domain/log.ts";
import { Metrics } from "../domain/metrics.ts";
import { onShutdown } from "../domain/shutdown.ts";
import { checkTransaction, SCHEMA_VERSION } from "../domain/transaction.ts";
import { MAX_AHEAD_SECONDS } from "../domain/window.ts";
import { createKafka, dlqTopic, groupId } from "../kafka/client.ts";
import { deadLetterMessage } from "../kafka/dlq.ts";
import { ensureTopics } from "../kafka/topic.ts";
import { type Clock, redisClock } from "../redis/clock.ts";
import { connectRedis } from "../redis/connection.ts";
import { metricsKey, positionField, positionKey } from "../redis/keys.ts";
import { defineScripts } from "../redis/loader.ts";
import { checkRedis, RedisRequirementError } from "../redis/requirements.ts";
import { type Applied, type ApplyResult, run, ScriptError, type Stretch, startReplay } from "../redis/scripts.ts";
import type { GroupProcessor, LogRecord } from "./group.ts";

export type Decoded = ReturnType<typeof checkTransaction>;

/** Reads one record value: JSON, then the schema version, then the Transaction schema, then its time. */
export function decodeRecord(value: Buffer | null, nowSec: number): Decoded {
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
    return { ok: false, reason: `time ${checked.tx.time} is more than ${MAX_AHEAD_SECONDS} s ahead of Redis's clock (${Math.floor(nowSec)})` };
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
  /** Partitions whose batches are applied at the same time by this process. */
  partitionsConsumedConcurrently?: number;
  /** Called when kafkajs gives up (a crash it will not restart from). */
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

/** How often a consumer checks that Redis still holds the positions of its partitions. */
export const POSITION_WATCH_MS = 2_000;

/** How long the group waits for a silent member before giving its partitions to the others. */
export const SESSION_TIMEOUT_MS = 10_000;

/** Backoff between attempts at a batch Redis did not acknowledge: 100 ms doubling to 5 s. */
const backoffMs = (attempt: number) => Math.min(100 * 2 ** (attempt - 1), 5_000);

/**
 * Where a replay of `partition` into an empty projection starts: the first record written within
 * the group's lookback, or the oldest the log still holds; and since when the projection then
 * holds the partition's records (`covers_from_ms`: 0 when the log holds the partition from its
 * first record; otherwise the lookback's start, or the retention's when the log is shorter).
 */
export async function replayStart(admin: Admin, config: Config, role: GroupProcessor["role"], partition: number, nowMs: number) {
  const lookbackMs = REPLAY_LOOKBACK_SECONDS[role] * 1000;
  const [byTime, ends] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(config.TOPIC, nowMs - lookbackMs), admin.fetchTopicOffsets(config.TOPIC)]);
  const end = ends.find((p) => p.partition === partition);
  const low = Number(end?.low ?? 0);
  const high = Number(end?.high ?? 0);
  const from = Math.max(low, Math.min(high, Number(byTime.find((p) => p.partition === partition)?.offset ?? high)));
  const coversFromMs = from > low ? nowMs - lookbackMs : low === 0 ? 0 : nowMs - Math.min(lookbackMs, config.TOPIC_RETENTION_HOURS * 3_600_000);
  return { from, high, coversFromMs };
}

export function createConsumerRunner(options: RunnerOptions): ConsumerRunner {
  const { config, group } = options;
  const role = group.role;
  const id = groupId(config, role);
  const log = options.log ?? createLogger(`consumer-${role}`, config);
  const ownRedis = !options.redis;
  const kafka = options.kafka ?? createKafka(config, `consumer-${role}-${process.pid}`, log);
  const redis = options.redis ?? defineScripts(connectRedis(config.REDIS_URL, log));
  defineScripts(redis);
  const clock: Clock = redisClock(redis);
  const metrics = new Metrics();
  const metric = (name: string) => `consumer_${role}_${name}`;
  const dlq = dlqTopic(config);
  const topic = config.TOPIC;
  const admin = kafka.admin();
  let adminConnected: Promise<void> | undefined;

  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let stopFlushing: (() => Promise<void>) | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let ticking = false;
  let watcher: ReturnType<typeof setInterval> | undefined;
  let watching = false;
  /** The partitions this process was assigned at its last join. */
  let assigned: number[] = [];
  /** Per partition, the position this process expects Redis to hold (the end of its last batch or seek). */
  const expected = new Map<number, string>();
  /** Per partition, offsets below which poison records were dead-lettered before (a replay skips them). */
  const deadLetteredBelow = new Map<number, number>();

  const tick = async () => {
    if (!group.tick || ticking) return;
    ticking = true;
    try {
      await group.tick(redis);
    } catch (err) {
      log.limited(`tick:${role}`, "warn", `${role}: upkeep failed, will retry`, { error: String(err) });
    } finally {
      ticking = false;
    }
  };

  const connectAdmin = async () => {
    adminConnected ??= admin.connect().catch((err) => {
      adminConnected = undefined;
      throw err;
    });
    await adminConnected;
  };

  /** The group's committed offset for the partition (Kafka's), 0 when none. */
  async function committedOffset(partition: number): Promise<number> {
    await connectAdmin();
    const [offsets] = await admin.fetchOffsets({ groupId: id, topics: [topic] });
    return Math.max(0, Number(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? 0));
  }

  /**
   * Brings the partition to the position Redis holds: seeks there, or, when Redis holds none,
   * starts a replay into the empty projection and seeks to its start. `reached` is the offset
   * this process had reached (Kafka's committed offset when it has not read the partition since
   * it was assigned): poison records below it were dead-lettered already.
   */
  async function resync(partition: number, reached?: number): Promise<void> {
    const field = positionField(topic, partition);
    deadLetteredBelow.set(partition, Math.max(deadLetteredBelow.get(partition) ?? 0, reached ?? (await committedOffset(partition))));
    let position = await redis.hget(positionKey(config, role), field);
    if (position === null) {
      await connectAdmin();
      const start = await replayStart(admin, config, role, partition, clock.now());
      position = await run(redis, startReplay(config, role, field, String(start.from), String(start.high), start.coversFromMs));
      metrics.inc(metric("replays_total"));
      log.info(`${role}: Redis holds no position for partition ${partition}; replaying the log from offset ${position} (${Math.max(0, start.high - Number(position))} records)`);
    } else {
      log.info(`${role}: Redis holds position ${position} for partition ${partition} (this process was at ${reached}); resuming there`);
    }
    metrics.inc(metric("seeks_total"));
    expected.set(partition, position);
    consumer?.seek({ topic, partition, offset: position });
  }

  /**
   * Checks that Redis holds, for each partition of this process, the position this process is
   * at, and resyncs those where it does not: a partition just assigned (resume from Redis's
   * position, whatever Kafka's committed offset says), a position gone (a replay starts) or
   * another one (a restored snapshot).
   */
  async function watchPositions(): Promise<void> {
    if (watching || !assigned.length) return;
    watching = true;
    try {
      const fields = assigned.map((p) => positionField(topic, p));
      const stored = await redis.hmget(positionKey(config, role), ...fields);
      for (const [i, partition] of assigned.entries()) {
        const position = stored[i] ?? null;
        const mine = expected.get(partition);
        if (position === null || position !== mine) await resync(partition, mine === undefined ? undefined : Number(mine));
      }
    } catch (err) {
      log.limited(`watch:${role}`, "warn", `${role}: could not check the positions in Redis, will retry`, { error: String(err) });
    } finally {
      watching = false;
    }
  }

  /**
   * The group's apply, except that a record a script refuses (ScriptError: its input is not what
   * the script accepts) does not block the partition: the batch is then applied record by
   * record, and each refused record is dead-lettered with the script's reason before the
   * position moves past it. Transport errors (connection, timeout, LOADING, BUSY) are thrown:
   * the caller retries them.
   */
  async function applyRefusing(records: readonly LogRecord[], stretch: Stretch, origin: string, partition: number): Promise<Applied<ApplyResult>> {
    try {
      return await group.apply(redis, records, stretch);
    } catch (err) {
      if (!(err instanceof ScriptError)) throw err;
    }
    const total: ApplyResult = { applied: 0, duplicates: 0, stale: 0 };
    let from = stretch.from;
    for (const [i, record] of records.entries()) {
      const part = { field: stretch.field, from, to: records[i + 1]?.offset ?? stretch.to };
      let result: Applied<ApplyResult>;
      try {
        result = await group.apply(redis, [record], part);
      } catch (err) {
        if (!(err instanceof ScriptError)) throw err;
        const reason = `refused by ${err.message}`;
        if (producer)
          await sendDeadLetters(producer, dlq, [
            deadLetterMessage({ source: id, reason, raw: Buffer.from(JSON.stringify(record.tx)), origin: { topic: origin, partition, offset: record.offset } }),
          ]);
        metrics.inc(metric("dead_letters_total"));
        metrics.inc(metric("script_refusals_total"));
        log.limited(`refused:${role}`, "warn", `${role}: dead letter: ${reason}`, { partition, offset: record.offset });
        // Past the refused record, with nothing applied.
        result = await group.apply(redis, [], part);
      }
      if (result.status !== "applied") return result;
      total.applied += result.applied;
      total.duplicates += result.duplicates;
      total.stale += result.stale;
      from = part.to;
    }
    return { status: "applied", ...total };
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    const partition = batch.partition;
    // The offset this fetch asked for (kafkajs keeps it on the batch): the position the stretch starts at.
    const stretch = {
      field: positionField(batch.topic, partition),
      from: String((batch as unknown as { fetchedOffset: string }).fetchedOffset),
      to: String(Number(last.offset) + 1),
    };
    const nowSec = clock.now() / 1000;
    const sentBefore = deadLetteredBelow.get(partition) ?? 0;
    const records: LogRecord[] = [];
    const dead: Message[] = [];
    let skipped = 0;
    for (const m of batch.messages) {
      const decoded = decodeRecord(m.value, nowSec);
      if (decoded.ok) records.push({ tx: decoded.tx, offset: m.offset });
      else if (Number(m.offset) < sentBefore) skipped++;
      else {
        dead.push(deadLetterMessage({ source: id, reason: decoded.reason, raw: m.value, origin: { topic: batch.topic, partition, offset: m.offset } }));
        log.limited(`dead:${role}`, "warn", `${role}: dead letter: ${decoded.reason}`, { partition, offset: m.offset });
      }
    }

    // Dead letters first: once the position moves past them they are never read again. But only
    // for a stretch Redis will take: one it refuses is read again from elsewhere (a replay), and
    // its dead letters would go twice.
    if (dead.length) {
      try {
        if ((await redis.hget(positionKey(config, role), stretch.field)) !== stretch.from) {
          await resync(partition, Number(stretch.from));
          return;
        }
      } catch (err) {
        log.limited(`resync:${role}`, "warn", `${role}: could not read the position in Redis, will retry`, { partition, error: String(err) });
        await Bun.sleep(backoffMs(2));
        return;
      }
    }
    let deadSent = dead.length === 0;
    let result: Applied<ApplyResult> | undefined;
    for (let attempt = 1; ; attempt++) {
      // Stopping or lost the partition: leave the batch unresolved, it will be redelivered.
      if (!isRunning() || isStale()) return;
      try {
        if (!deadSent && producer) await sendDeadLetters(producer, dlq, dead);
        if (!deadSent) {
          // Sent: whatever Redis answers next, this stretch's poison records are not sent again.
          deadLetteredBelow.set(partition, Math.max(sentBefore, Number(stretch.to)));
          metrics.inc(metric("dead_letters_total"), dead.length);
          deadSent = true;
        }
        result = await applyRefusing(records, stretch, batch.topic, partition);
        break;
      } catch (err) {
        metrics.inc(metric("retries_total"));
        log.limited(`retry:${role}`, "warn", `${role}: batch not applied (${deadSent ? "Redis" : "dead-letter topic"}), retrying; nothing is committed meanwhile`, {
          partition,
          offset: stretch.from,
          attempt,
          error: String(err),
        });
        await Bun.sleep(backoffMs(attempt));
        await heartbeat();
      }
    }

    if (result.status !== "applied") {
      // Redis holds another position, or none: go where it is (the batch is left unresolved).
      try {
        await resync(partition, Number(stretch.from));
      } catch (err) {
        log.limited(`resync:${role}`, "warn", `${role}: could not resume from Redis's position, will retry`, { partition, error: String(err) });
        await Bun.sleep(backoffMs(2));
      }
      return;
    }
    expected.set(partition, stretch.to);
    resolveOffset(last.offset);
    metrics.inc(metric("applied_total"), result.applied);
    metrics.inc(metric("duplicates_total"), result.duplicates);
    metrics.inc(metric("stale_total"), result.stale);
    metrics.inc(metric("replay_skipped_dead_letters_total"), skipped);
    metrics.inc(metric("batches_total"));
    metrics.set(metric("last_batch_at_ms"), clock.now());
    await heartbeat();
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
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) {
        log.error(`${role}: the Kafka consumer crashed and will not restart`, { error: String(payload.error) });
        options.onFatal?.(payload.error);
      }
    });
    const joined = new Promise<void>((resolve) =>
      consumer?.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        assigned = payload.memberAssignment[topic] ?? [];
        expected.clear();
        // Resume every partition from the position Redis holds.
        void watchPositions();
        resolve();
      }),
    );
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
      await tick();
      if (group.tick) ticker = setInterval(tick, group.tickEveryMs ?? 10_000);
      await consume();
      watcher = setInterval(watchPositions, POSITION_WATCH_MS);
      log.info(`${role}: consuming ${topic} as group ${id}`);
    },
    async stop() {
      if (ticker) clearInterval(ticker);
      if (watcher) clearInterval(watcher);
      clock.stop();
      // kafkajs: stops fetching, waits for the batch in hand, commits resolved offsets, leaves the group.
      await consumer?.disconnect();
      await producer?.disconnect();
      if (adminConnected) await admin.disconnect().catch(() => {});
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
  const runner = createConsumerRunner({ config, group, log, onFatal: () => process.exit(1) });
  onShutdown(log, () => runner.stop());
  try {
    await runner.start();
  } catch (err) {
    if (err instanceof RedisRequirementError) {
      console.error(err.message);
      process.exit(2);
    }
    log.error(`${group.role}: could not start`, { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}
