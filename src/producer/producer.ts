/**
 * The producer role: feed frames in, transactions and dead letters out to Kafka.
 *
 * Transport stays apart from processing: the feed client (src/feed/client.ts) delivers raw
 * frames, `readFeedMessage` (src/feed/utx.ts) decides what each one is, the publisher
 * (./publisher.ts) gets it to Kafka. Metrics go to Redis once a second; Redis being away only
 * delays them.
 *
 * One clock: "now" is Redis's TIME (src/redis/clock.ts), as for every other role. It is the
 * arrival time (`received_at`, and the limit past which a transaction's `time` counts as future,
 * src/feed/utx.ts), the `at` of a dead letter and the Kafka timestamp of every record (which
 * picks where a replay starts). So the feed is read only once Redis has answered TIME: a
 * transaction read on this host's clock alone could be rewritten, or stamped, minutes off.
 * After that Redis may go away: the clock keeps its last offset, and ingestion goes on.
 *
 * Metrics: `producer_received_total` (data frames: valid and invalid), `producer_published_total`
 * (transactions Kafka acknowledged), `producer_invalid_total` (dead-lettered frames),
 * `producer_reconnects_total`, `producer_dropped_total` (messages given up: buffer full by count
 * or bytes, too large, unsent at shutdown), and the gauges `producer_last_message_at_ms` (arrival
 * of the last data frame), `producer_buffer_messages` and `producer_buffer_bytes` (what is held
 * waiting for Kafka).
 */

import { hostname } from "node:os";
import type Redis from "ioredis";
import type { Kafka, Message } from "kafkajs";
import type { Config } from "../domain/config.ts";
import { FLUSHED_REPORT_KEEP_MS, LATENESS_MS } from "../domain/coverage.ts";
import { beat } from "../domain/heartbeat.ts";
import type { Logger } from "../domain/log.ts";
import { Metrics } from "../domain/metrics.ts";
import { connectFeed, FEED_TIMING, type FeedEvents, type FeedTiming } from "../feed/client.ts";
import { readFeedMessage } from "../feed/utx.ts";
import { createKafka } from "../kafka/client.ts";
import { cutDeadLetter, deadLetterMessage } from "../kafka/dlq.ts";
import { type Clock, redisClock } from "../redis/clock.ts";
import { connectRedis } from "../redis/connection.ts";
import { metricsKey, producerHeldKey } from "../redis/keys.ts";
import { parseHeldReport } from "../redis/read.ts";
import { MAX_RECORD_BYTES, PUBLISHER_TIMING, Publisher, type PublisherTiming } from "./publisher.ts";

/** How long a shutdown waits for Kafka to acknowledge what is held. */
export const SHUTDOWN_FLUSH_MS = 10_000;

export interface ProducerDeps {
  config: Config;
  log: Logger;
  /** Defaults to a client built from the config. */
  kafka?: Kafka;
  feedTiming?: FeedTiming;
  publisherTiming?: PublisherTiming;
}

export interface Producer {
  readonly metrics: Metrics;
  /** Stops reading the feed, waits for Kafka to acknowledge what is held, flushes the metrics, disconnects. */
  stop(): Promise<void>;
}

/**
 * The dead letter of a feed frame. A frame larger than a Kafka record can hold (a megabyte of
 * junk, or a frame above the feed's MAX_FRAME_BYTES) is cut to its first `MAX_RECORD_BYTES` bytes
 * and says so in a `raw_bytes` header (its full size), by the dead-letter rule (src/kafka/dlq.ts):
 * cut, but dead-lettered like any other, rather than dropped.
 */
export const feedDeadLetter = (raw: string | Buffer, reason: string, now: number): Message =>
  cutDeadLetter(deadLetterMessage({ source: "feed", reason, raw }, now), MAX_RECORD_BYTES, "raw_bytes");

/** The first characters of a frame for a log line, without decoding a large binary frame whole. */
const frameStart = (raw: string | Buffer) => (typeof raw === "string" ? raw.slice(0, 120) : raw.subarray(0, 120).toString());

/** How often the producer asks Redis for TIME while it has never answered. */
export const CLOCK_RETRY_MS = 1_000;

/**
 * Resolves once `clock` holds Redis's offset (or `stopped()`); until then asks again every
 * CLOCK_RETRY_MS and says why it waits. TIME answering is what tells that the clock's sync measured.
 */
async function clockMeasured(redis: Redis, clock: Clock, log: Logger, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    try {
      await redis.time();
      await clock.sync();
      return;
    } catch (err) {
      log.limited("producer:clock", "warn", `waiting for Redis's clock before reading the feed (${err instanceof Error ? err.message : String(err)})`);
    }
    await Bun.sleep(CLOCK_RETRY_MS);
  }
}

/** How often a producer holding transactions says so in Redis (src/domain/coverage.ts HELD_REPORT_STALE_MS). */
export const HELD_REPORT_MS = 1_000;

/**
 * Tells the consumers and the API, through `key`, since when this producer holds transactions
 * that Kafka has not acknowledged (src/domain/coverage.ts `Held`, `stampedBefore`). Every
 * HELD_REPORT_MS, and once before the feed is read, field `<id>`: the oldest held now (the report's
 * time when none is), and while a span held long (past LATENESS_MS by the next report) drains, that
 * span's start. Every record this producer stamps later, or has not had acknowledged, is stamped
 * after it: a consumer's sample of the log's end vouches for no later stamp. Once Kafka has taken a
 * span held long, field `<id>:flushed` says so: its start and a moment after Kafka took it, merged
 * with the span flushed before; the API counts answers that can hold it `behind` until the
 * projection has passed that moment. `stop` deletes `<id>` (after the last flush); a flushed span
 * older than FLUSHED_REPORT_KEEP_MS (anyone's) is deleted when another is written.
 */
function reportHeld(redis: Redis, key: string, publisher: Publisher, clock: Clock): { report(): Promise<void>; stop(): Promise<void> } {
  const id = `${process.pid}@${hostname()}`;
  /** The start of a span held long that Kafka has not taken all of yet. */
  let longSince: number | null = null;
  /** The spans flushed so far, merged; `unsaved` until Redis has it (the next report tries again). */
  let flushed: { sinceMs: number; atMs: number } | null = null;
  let unsaved = false;
  let stopped = false;
  const report = async () => {
    if (stopped) return;
    beat("producer");
    const now = clock.now();
    const held = publisher.heldSinceMs();
    // Long: held past LATENESS_MS by the next report (stamped when sent, it reaches the log late).
    if (held !== null && held < now - LATENESS_MS + HELD_REPORT_MS) longSince = Math.min(longSince ?? held, held);
    else if (longSince !== null) {
      // Kafka took what was held long (by now). Merged with the spans flushed before: one field per producer.
      flushed = { sinceMs: Math.min(longSince, flushed?.sinceMs ?? longSince), atMs: now };
      unsaved = true;
      longSince = null;
    }
    try {
      if (flushed && unsaved) {
        await redis.hset(key, `${id}:flushed`, JSON.stringify({ held_since_ms: flushed.sinceMs, flushed_ms: flushed.atMs }));
        unsaved = false;
        await forgetOldFlushed(redis, key, now);
      }
      if (!stopped) await redis.hset(key, id, JSON.stringify({ held_since_ms: longSince ?? held ?? now, written_ms: now }));
    } catch {
      // Redis away: neither the API nor the consumers can read it; the next report tries again.
    }
  };
  const timer = setInterval(report, HELD_REPORT_MS);
  return {
    report,
    async stop() {
      clearInterval(timer);
      await report(); // a span held long and flushed just now is reported flushed
      stopped = true;
      await redis.hdel(key, id).catch(() => {});
    },
  };
}

/** Deletes the flushed spans older than FLUSHED_REPORT_KEEP_MS (of producers gone too). */
async function forgetOldFlushed(redis: Redis, key: string, nowMs: number): Promise<void> {
  const old: string[] = [];
  for (const [field, value] of Object.entries(await redis.hgetall(key))) {
    const report = parseHeldReport(value);
    if (report && "flushedMs" in report && report.flushedMs < nowMs - FLUSHED_REPORT_KEEP_MS) old.push(field);
  }
  if (old.length) await redis.hdel(key, ...old);
}

/** Starts at once: reads the feed as soon as Redis's clock is known; Kafka and Redis are connected (and retried) in the background. */
export function startProducer({ config, log, kafka, feedTiming = FEED_TIMING, publisherTiming = PUBLISHER_TIMING }: ProducerDeps): Producer {
  const metrics = new Metrics();
  // While Redis is away a flush fails and the metrics keep their deltas for the next one.
  const redis = connectRedis(config.REDIS_URL, log);
  const clock = redisClock(redis);
  const publisher = new Publisher(
    kafka ?? createKafka(config, "btc-producer", log),
    config,
    log,
    {
      published: (n) => metrics.inc("producer_published_total", n),
      dropped: (n) => metrics.inc("producer_dropped_total", n),
      replaced: () => metrics.inc("producer_replaced_total"),
      held: (messages, bytes) => {
        metrics.set("producer_buffer_messages", messages);
        metrics.set("producer_buffer_bytes", bytes);
      },
    },
    clock.now,
    publisherTiming,
  );
  const stopFlushing = metrics.startFlushing(redis, metricsKey(config));
  const held = reportHeld(redis, producerHeldKey(config), publisher, clock);

  const events: FeedEvents = {
    frame(raw) {
      const now = clock.now();
      const message = readFeedMessage(raw, now);
      if (message.kind === "control") return;
      metrics.inc("producer_received_total");
      metrics.set("producer_last_message_at_ms", now);
      if (message.kind === "tx") return publisher.send(message.tx);
      metrics.inc("producer_invalid_total");
      log.limited("producer:invalid", "warn", `invalid feed message, dead-lettered: ${message.reason}`, { start: frameStart(raw) });
      publisher.deadLetter(feedDeadLetter(raw, message.reason, now));
    },
    reconnected: () => metrics.inc("producer_reconnects_total"),
  };
  let stopped = false;
  let feed: { close(): void } | undefined;
  void clockMeasured(redis, clock, log, () => stopped).then(async () => {
    await held.report(); // the consumers know of this producer before it stamps a record
    if (!stopped) feed = connectFeed(config.FEED_URL, log, events, feedTiming);
  });

  return {
    metrics,
    async stop() {
      stopped = true; // a clock measured from now on opens no feed
      feed?.close();
      log.info("producer stopping: waiting for Kafka to acknowledge what is held", publisher.held());
      await publisher.stop(SHUTDOWN_FLUSH_MS);
      log.info("producer stopping: Kafka closed; the last report and metrics to Redis");
      await held.stop();
      await stopFlushing();
      clock.stop();
      redis.disconnect();
      log.info("producer stopped", metrics.snapshot());
    },
  };
}
