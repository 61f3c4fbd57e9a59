/**
 * Publishing to Kafka: transactions to the topic, dead letters to `<TOPIC>.dlq`.
 *
 * - Batched: `send`/`deadLetter` only queue; the queue is sent `lingerMs` after the first
 *   message, then continuously while messages keep coming, one request in flight at a time
 *   (so order is kept), each request about `BATCH_MAX_BYTES` of values.
 * - Durable: idempotent producer, acks from all in-sync replicas, gzip (Bun's, src/kafka/gzip.ts).
 * - Stamped: every record's Kafka timestamp is Redis's clock when its request is sent (set
 *   explicitly: kafkajs would take this host's `Date.now()`). The timestamps choose where a
 *   replay starts (fetchTopicOffsetsByTimestamp) and which records retention deletes, so they
 *   come from the one clock; stamped at sending, not arrival, they follow the log's order even
 *   for what was held through an outage.
 * - Routed: key = transaction hash; partition = minute(time) mod partitions (PARTITIONER=minute),
 *   or kafkajs' murmur2 of the key (PARTITIONER=hash).
 * - Buffered: until Kafka has acknowledged a message it stays queued, through start-up (topic
 *   creation and connection are retried here too) and outages. The queue is bounded twice: a
 *   message arriving while `PRODUCER_BUFFER_MAX` messages are queued, or that would take the
 *   queued bytes (key, value and headers of each record) above `PRODUCER_BUFFER_BYTES`, is
 *   dropped (the newest goes, what is held stays), reported to `dropped` and logged, rate-limited.
 *   A request whose acknowledgement was lost is sent again, so Kafka may hold a transaction
 *   twice; consumers count a hash once (the contract), so that is safe.
 */
import { CompressionTypes, type Kafka, type Message, Partitioners, type Producer } from "kafkajs";
import { backoff } from "../domain/backoff.ts";
import type { Config } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import type { Transaction } from "../domain/transaction.ts";
import { dlqTopic } from "../kafka/client.ts";
import { ensureTopics } from "../kafka/topic.ts";

/**
 * The largest record value. Kafka refuses a record batch above the topic's `max.message.bytes`
 * (1 MB by default); a value this size still fits after compression and framing.
 */
export const MAX_RECORD_BYTES = 900_000;

/**
 * Uncompressed values per request (about 300 transactions; a larger record goes alone).
 * kafkajs groups a request's messages by partition in quadratic time, which makes much larger
 * requests slower per message, not faster (measured with bench/producer.bench.ts).
 */
export const BATCH_MAX_BYTES = 200_000;

/** How long a stop waits for kafkajs to close the producer's connections. */
export const DISCONNECT_TIMEOUT_MS = 5_000;

export interface PublisherTiming {
  lingerMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

export const PUBLISHER_TIMING: PublisherTiming = { lingerMs: 5, retryMinMs: 500, retryMaxMs: 10_000 };

export interface PublisherEvents {
  /** Kafka acknowledged `n` transactions. */
  published(n: number): void;
  /** `n` messages were given up (buffer full, too large, or still unsent at shutdown). */
  dropped(n: number): void;
  /** What the queue holds now: messages, and bytes of their keys, values and headers. */
  held?(messages: number, bytes: number): void;
  /** The producer was replaced after Kafka refused its sequence (a new producer id). */
  replaced?(): void;
}

type PublisherConfig = Pick<Config, "TOPIC" | "TOPIC_PARTITIONS" | "TOPIC_REPLICATION" | "TOPIC_RETENTION_HOURS" | "PARTITIONER" | "PRODUCER_BUFFER_MAX" | "PRODUCER_BUFFER_BYTES">;

interface Queued {
  message: Message;
  /** Bytes of the value: what a request and the record limit count. */
  bytes: number;
  /** Bytes of key, value and headers: what the buffer bound counts. */
  size: number;
  /** Event time of a transaction, for the minute partitioner; undefined for dead letters. */
  time?: number;
  /** When it was queued (Redis's clock, ms). */
  queuedAtMs: number;
}

const byteLength = (value: Message["value"]) => (typeof value === "string" ? Buffer.byteLength(value) : (value?.length ?? 0));
const headerBytes = (headers: Message["headers"]) => {
  let n = 0;
  for (const [name, value] of Object.entries(headers ?? {})) {
    n += Buffer.byteLength(name);
    for (const v of Array.isArray(value) ? value : [value]) n += byteLength(v ?? null);
  }
  return n;
};
/** What one record weighs in the buffer: key, value and headers (the JS objects around them come on top). */
const recordSize = (m: Message) => byteLength(m.key ?? null) + byteLength(m.value) + headerBytes(m.headers);

/**
 * Errors after which the idempotent producer's sequence can never be accepted again (the broker
 * lost or fenced its producer state, as after a slow broker restart): the producer is replaced,
 * which gets a new producer id. A batch that was written before the error may then be written
 * twice; the consumers count each transaction once by hash.
 */
const FENCED = /OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH|out of order sequence number|unknown producer id|producer.*epoch/i;
export const isFenced = (err: unknown): boolean => {
  const e = err as { type?: unknown; message?: unknown; cause?: unknown } | undefined;
  return FENCED.test(String(e?.type ?? "")) || FENCED.test(String(e?.message ?? err)) || (e?.cause !== undefined && e.cause !== err && isFenced(e.cause));
};

export class Publisher {
  private producer: Producer;
  private readonly dlq: string;
  private readonly queue: Queued[] = [];
  /** Sum of `size` over the queue. */
  private queuedBytes = 0;
  private partitions = 0;
  private connected = false;
  private pumping: Promise<void> | undefined;
  private linger: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: PublisherConfig,
    private readonly log: Logger,
    private readonly events: PublisherEvents,
    /** "Now", unix ms: Redis's clock (src/redis/clock.ts). */
    private readonly now: () => number,
    private readonly timing: PublisherTiming = PUBLISHER_TIMING,
  ) {
    this.dlq = dlqTopic(config);
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // kafkajs retries an idempotent send until it succeeds; cap the wait between tries so an outage ends quickly.
      retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5_000 },
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /** Disconnects the producer, at most DISCONNECT_TIMEOUT_MS; true when it closed in time. */
  private async disconnect(producer: Producer): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((done) => (timer = setTimeout(() => done("late"), DISCONNECT_TIMEOUT_MS)));
    const closed = (await Promise.race([producer.disconnect().catch(() => {}), late])) !== "late";
    clearTimeout(timer);
    return closed;
  }

  send(tx: Transaction): void {
    const message = { key: tx.hash, value: JSON.stringify(tx) };
    this.enqueue({ message, bytes: byteLength(message.value), size: recordSize(message), time: tx.time, queuedAtMs: this.now() }, `transaction ${tx.hash}`);
  }

  deadLetter(message: Message): void {
    this.enqueue({ message, bytes: byteLength(message.value), size: recordSize(message), queuedAtMs: this.now() }, "dead letter");
  }

  /** When the oldest message still waiting for Kafka was queued (Redis's clock, ms); null when none waits. */
  heldSinceMs(): number | null {
    return this.queue[0]?.queuedAtMs ?? null;
  }

  /** Messages and bytes (keys, values, headers) queued now, not yet acknowledged by Kafka. */
  held(): { messages: number; bytes: number } {
    return { messages: this.queue.length, bytes: this.queuedBytes };
  }

  /** Waits until everything queued is acknowledged, at most `timeoutMs`; returns how many are left (and reports them dropped). */
  async stop(timeoutMs: number): Promise<number> {
    clearTimeout(this.linger);
    if (this.queue.length) this.pumping ??= this.pump();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.pumping, new Promise((done) => (timer = setTimeout(done, timeoutMs)))]);
    clearTimeout(timer);
    this.stopped = true;
    const left = this.queue.length;
    if (left) {
      this.events.dropped(left);
      this.log.error(`Kafka did not acknowledge ${left} messages within ${timeoutMs} ms of shutdown: dropped`);
    }
    // kafkajs' disconnect waits for requests in flight; bounded, so a stop never hangs on a broker.
    if (!(await this.disconnect(this.producer))) this.log.warn(`Kafka did not close the connection within ${DISCONNECT_TIMEOUT_MS} ms of shutdown; leaving it`);
    return left;
  }

  private enqueue(item: Queued, what: string): void {
    if (this.stopped) return void this.events.dropped(1);
    if (item.bytes > MAX_RECORD_BYTES) {
      this.events.dropped(1);
      this.log.error(`${what} is ${item.bytes} bytes, above the ${MAX_RECORD_BYTES}-byte record limit: dropped`);
      return;
    }
    if (this.queue.length >= this.config.PRODUCER_BUFFER_MAX) {
      this.events.dropped(1);
      this.log.limited("producer:buffer-full", "error", `buffer full (${this.queue.length} messages waiting for Kafka): dropped ${what}`);
      return;
    }
    if (this.queuedBytes + item.size > this.config.PRODUCER_BUFFER_BYTES) {
      this.events.dropped(1);
      this.log.limited(
        "producer:buffer-bytes",
        "error",
        `buffer full (${this.queuedBytes} bytes in ${this.queue.length} messages waiting for Kafka, limit ${this.config.PRODUCER_BUFFER_BYTES}): dropped ${what} of ${item.size} bytes`,
      );
      return;
    }
    this.queue.push(item);
    this.queuedBytes += item.size;
    this.events.held?.(this.queue.length, this.queuedBytes);
    if (!this.pumping && !this.linger) {
      this.linger = setTimeout(() => {
        this.linger = undefined;
        this.pumping ??= this.pump();
      }, this.timing.lingerMs);
    }
  }

  /** Sends the queue until it is empty; the only caller of Kafka, so one request is in flight. */
  private async pump(): Promise<void> {
    let failures = 0;
    while (this.queue.length && !this.stopped) {
      try {
        if (!this.connected) {
          this.partitions = await ensureTopics(this.kafka, this.config, this.log);
          await this.producer.connect();
          this.connected = true;
        }
        const n = this.sendable();
        const published = await this.sendBatch(this.queue.slice(0, n));
        for (const item of this.queue.splice(0, n)) this.queuedBytes -= item.size;
        this.events.held?.(this.queue.length, this.queuedBytes);
        this.events.published(published);
        failures = 0;
      } catch (err) {
        if (isFenced(err)) {
          // Retrying the same sequence would fail for ever: a new producer (a new producer id) goes on.
          this.log.warn(`Kafka refused the producer's sequence (${String(err)}); replacing the producer`, { held: this.queue.length });
          this.events.replaced?.();
          const old = this.producer;
          this.producer = this.newProducer();
          this.connected = false;
          await this.disconnect(old);
        }
        const delay = backoff(failures++, this.timing.retryMinMs, this.timing.retryMaxMs);
        this.log.limited("producer:send", "warn", `Kafka unavailable (${this.queue.length} messages held); retrying in ${delay} ms`, { error: String(err) });
        await Bun.sleep(delay);
      }
    }
    this.pumping = undefined;
  }

  /** How many queued messages fit in one request (at least one). */
  private sendable(): number {
    let n = 0;
    let bytes = 0;
    for (const item of this.queue) {
      bytes += item.bytes;
      if (n && bytes > BATCH_MAX_BYTES) break;
      n++;
    }
    return n;
  }

  private async sendBatch(items: Queued[]): Promise<number> {
    const main: Message[] = [];
    const dead: Message[] = [];
    const byMinute = this.config.PARTITIONER === "minute";
    const timestamp = String(this.now());
    for (const item of items) {
      item.message.timestamp = timestamp;
      if (item.time === undefined) dead.push(item.message);
      else {
        if (byMinute) item.message.partition = Math.floor(item.time / 60) % this.partitions;
        main.push(item.message);
      }
    }
    const topicMessages = [
      { topic: this.config.TOPIC, messages: main },
      { topic: this.dlq, messages: dead },
    ].filter((t) => t.messages.length);
    await this.producer.sendBatch({ acks: -1, compression: CompressionTypes.GZIP, topicMessages });
    return main.length;
  }
}
