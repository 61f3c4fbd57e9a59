/**
 * Every bench's deadline (issue 19, item 4). `bun run bench` runs each bench inside one
 * (bench/index.ts): `deadline.run(body)` races the bench against its time, and when the time
 * passes first it
 *   1. reads what the pipeline got to, while it is still there: for every namespace the bench
 *      watches (`deadline.watch(label, config)`), the records in Kafka per partition (and the dead
 *      letters), what each consumer group of the registry (src/projections/registry.ts, a group per
 *      shard of a sharded projection) committed per partition, and the producer's metrics as it
 *      flushed them to Redis (dropped, published, received, what its buffer held); each part of
 *      the report within REPORT_PART_MS, so a broker or Redis that is gone cannot hang it;
 *   2. aborts `deadline.signal`: the bench's waits (`deadline.sleep`, `deadline.check`) throw,
 *      so its loops end and its `finally` blocks stop what it started, within `graceMs`;
 *   3. rejects with DeadlinePassed, whose message is the report.
 * A bench given to `run` is never awaited past its deadline plus the grace: whatever it waits on.
 */
import type Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import type { Config } from "../src/domain/config.ts";
import { consumerGroups, dlqTopic } from "../src/kafka/client.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { metricsKey } from "../src/redis/keys.ts";

/** What a watched namespace needs for its report: where Kafka and Redis are, its topic, groups and prefix. */
export type Watched = Pick<Config, "KAFKA_BROKERS" | "REDIS_URL" | "TOPIC" | "GROUP_PREFIX" | "REDIS_PREFIX"> & Partial<Pick<Config, "ADDRESS_SHARDS">>;

/** How long each part of a report (Kafka's records, the groups' offsets, the producer's metrics) may take. */
export const REPORT_PART_MS = 10_000;
/** How long `run` waits, after the deadline, for the bench to stop what it started. */
export const GRACE_MS = 30_000;

/** A part of the report, or why it could not be read. */
export type Part<T> = { ok: true; value: T } | { ok: false; error: string };

export interface TopicRecords {
  /** False when the topic was never created (nothing reached Kafka). */
  exists: boolean;
  /** Records in the topic: the sum of the partitions' end offsets. */
  total: number;
  /** End offset per partition. */
  partitions: { partition: number; offset: number }[];
  /** Records in the dead-letter topic (`<TOPIC>.dlq`), 0 when it does not exist. */
  deadLetters: number;
}

export interface GroupCommitted {
  role: string;
  /** The Kafka group id (a sharded projection has one per shard). */
  group: string;
  /** Records committed: the sum over partitions of what the group committed (none committed counts 0). */
  total: number;
  /** Committed offset per partition; null where the group never committed. */
  partitions: { partition: number; offset: number | null }[];
  /** Why the group's offsets could not be read (then `total` is 0 and `partitions` empty). */
  error?: string;
}

export interface ProducerSeen {
  /** Whether any producer flushed metrics into the namespace. */
  ran: boolean;
  dropped: number;
  published: number;
  received: number;
  /** Messages and bytes held waiting for Kafka at the last flush. */
  bufferMessages: number;
  bufferBytes: number;
}

export interface PipelineReport {
  label: string;
  topic: string;
  prefix: string;
  records: Part<TopicRecords>;
  groups: Part<GroupCommitted[]>;
  producer: Part<ProducerSeen>;
}

export interface DeadlineReport {
  bench: string;
  seconds: number;
  /** The bench's last step (`deadline.step`), e.g. "waiting for 100,000 records in Kafka". */
  step: string;
  pipelines: PipelineReport[];
}

/** The error of a bench whose deadline passed; `report` is what it saw, the message the same as text. */
export class DeadlinePassed extends Error {
  constructor(readonly report: DeadlineReport) {
    super(describeReport(report));
    this.name = "DeadlinePassed";
  }
}

const n = (x: number) => x.toLocaleString("en-US");
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** `promise`, or a rejection once `ms` pass. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  late.catch(() => {});
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function part<T>(what: string, read: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await within(REPORT_PART_MS, what, read()) };
  } catch (err) {
    return { ok: false, error: message(err) };
  }
}

/** Records of the namespace's topic and dead-letter topic, per partition. */
async function readRecords(kafka: Kafka, config: Watched): Promise<TopicRecords> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Listed first: asking a broker for the offsets of a topic it does not have can create it.
    const topics = new Set(await admin.listTopics());
    const ends = async (topic: string) => (topics.has(topic) ? (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: Number(p.high) })) : []);
    const partitions = (await ends(config.TOPIC)).sort((a, b) => a.partition - b.partition);
    const deadLetters = (await ends(dlqTopic(config))).reduce((s, p) => s + p.offset, 0);
    return { exists: topics.has(config.TOPIC), total: partitions.reduce((s, p) => s + p.offset, 0), partitions, deadLetters };
  } finally {
    await admin.disconnect();
  }
}

/**
 * What every consumer group of the registry committed on the namespace's topic, per partition:
 * nothing where the topic does not exist; a group whose offsets cannot be read says why.
 */
async function readGroups(kafka: Kafka, config: Watched): Promise<GroupCommitted[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const exists = (await admin.listTopics()).includes(config.TOPIC);
    return await Promise.all(
      consumerGroups(config, PROJECTIONS).map(async ({ role, group }): Promise<GroupCommitted> => {
        if (!exists) return { role, group, total: 0, partitions: [] };
        try {
          const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [config.TOPIC] });
          const partitions = (offsets?.partitions ?? [])
            .map((p) => ({ partition: p.partition, offset: Number(p.offset) >= 0 ? Number(p.offset) : null }))
            .sort((a, b) => a.partition - b.partition);
          return { role, group, total: partitions.reduce((s, p) => s + (p.offset ?? 0), 0), partitions };
        } catch (err) {
          return { role, group, total: 0, partitions: [], error: message(err) };
        }
      }),
    );
  } finally {
    await admin.disconnect();
  }
}

/** The producer's metrics as it flushed them into the namespace's hash (src/producer/producer.ts). */
export async function readProducer(redis: Redis, config: Pick<Config, "REDIS_PREFIX">): Promise<ProducerSeen> {
  const metrics = await redis.hgetall(metricsKey(config));
  const of = (name: string) => Number(metrics[`producer_${name}`] ?? 0);
  return {
    ran: Object.keys(metrics).some((k) => k.startsWith("producer_")),
    dropped: of("dropped_total"),
    published: of("published_total"),
    received: of("received_total"),
    bufferMessages: of("buffer_messages"),
    bufferBytes: of("buffer_bytes"),
  };
}

/** What one namespace's pipeline got to: Kafka's records, each group's commits, the producer's metrics. */
export async function pipelineReport(label: string, config: Watched): Promise<PipelineReport> {
  const kafka = new Kafka({ clientId: "bench-deadline", brokers: config.KAFKA_BROKERS.split(","), logLevel: logLevel.NOTHING, retry: { retries: 2 } });
  const redis = connectRedis(config.REDIS_URL);
  redis.on("error", () => {});
  try {
    const [records, groups, producer] = await Promise.all([
      part(`records of ${config.TOPIC}`, () => readRecords(kafka, config)),
      part(`offsets of the groups on ${config.TOPIC}`, () => readGroups(kafka, config)),
      part(`producer metrics of ${config.REDIS_PREFIX}`, () => readProducer(redis, config)),
    ]);
    return { label, topic: config.TOPIC, prefix: config.REDIS_PREFIX, records, groups, producer };
  } finally {
    redis.disconnect();
  }
}

const offsets = (partitions: { partition: number; offset: number | null }[]) => partitions.map((p) => `${p.partition}: ${p.offset === null ? "none" : n(p.offset)}`).join(", ");

/** The report as text: one block per watched namespace. */
export function describeReport(report: DeadlineReport): string {
  const lines = [`bench ${report.bench}: deadline of ${n(report.seconds)} s passed${report.step ? ` while ${report.step}` : ""}`];
  if (!report.pipelines.length) lines.push("  no pipeline watched at that point");
  for (const p of report.pipelines) {
    lines.push(`  ${p.label} (topic ${p.topic}, Redis prefix ${p.prefix}):`);
    const r = p.records;
    lines.push(
      r.ok
        ? r.value.exists
          ? `    records in Kafka: ${n(r.value.total)} (by partition ${offsets(r.value.partitions)}); dead letters ${n(r.value.deadLetters)}`
          : "    records in Kafka: 0 (the topic was never created)"
        : `    records in Kafka: unknown (${r.error})`,
    );
    const g = p.groups;
    if (!g.ok) lines.push(`    committed: unknown (${g.error})`);
    else
      for (const c of g.value)
        lines.push(
          `    committed by ${c.role} (group ${c.group}): ${c.error ? `unknown (${c.error})` : c.partitions.some((x) => x.offset !== null) ? `${n(c.total)} (by partition ${offsets(c.partitions)})` : "nothing"}`,
        );
    const m = p.producer;
    lines.push(
      !m.ok
        ? `    producer: unknown (${m.error})`
        : m.value.ran
          ? `    producer: dropped ${n(m.value.dropped)}, published ${n(m.value.published)}, received ${n(m.value.received)}; its buffer held ${n(m.value.bufferMessages)} messages, ${n(m.value.bufferBytes)} bytes`
          : "    producer: dropped 0 (no producer flushed metrics into this namespace)",
    );
  }
  return lines.join("\n");
}

/** The deadline of one bench run; see the file's comment. */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly watched = new Map<symbol, { label: string; config: Watched }>();
  private last = "";

  constructor(
    readonly bench: string,
    readonly ms: number,
  ) {}

  /** Aborted (with the DeadlinePassed) once the deadline passed and the report is taken. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Reports on this namespace if the deadline passes before the returned function is called. */
  watch(label: string, config: Watched): () => void {
    const id = Symbol(label);
    this.watched.set(id, { label, config });
    return () => void this.watched.delete(id);
  }

  /** What the bench does now, for the report ("waiting for 100,000 records in Kafka"). */
  step(text: string): void {
    this.last = text;
  }

  /** Throws the DeadlinePassed once the deadline passed. */
  check(): void {
    this.signal.throwIfAborted();
  }

  /** Sleeps `ms`; throws the DeadlinePassed as soon as the deadline passes. */
  async sleep(ms: number): Promise<void> {
    this.check();
    const signal = this.signal;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** What every watched namespace got to, now. */
  async report(): Promise<DeadlineReport> {
    const step = this.last; // what it did when the time passed, not once the report is read
    const pipelines = await Promise.all([...this.watched.values()].map(({ label, config }) => pipelineReport(label, config)));
    return { bench: this.bench, seconds: this.ms / 1000, step, pipelines };
  }

  /** `body`'s result, or DeadlinePassed with the report once the deadline passes (after `body` stopped, at most `graceMs` later). */
  async run<T>(body: (deadline: Deadline) => Promise<T>, graceMs = GRACE_MS): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"expired">((resolve) => (timer = setTimeout(() => resolve("expired"), this.ms)));
    const work = (async () => body(this))();
    const settled = work.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const first = await Promise.race([settled, expired]);
    clearTimeout(timer);
    if (first !== "expired") {
      if ("error" in first) throw first.error;
      return first.value;
    }
    const passed = new DeadlinePassed(await this.report());
    this.controller.abort(passed);
    await Promise.race([settled, Bun.sleep(graceMs)]);
    throw passed;
  }
}

/**
 * A bench's deadline in ms: BENCH_<NAME>_DEADLINE_S, else BENCH_DEADLINE_S, else its own default
 * (seconds; fractions allowed, e.g. BENCH_DEADLINE_S=1 to see the report).
 */
export function deadlineMs(name: string, defaultSeconds: number, env: Record<string, string | undefined> = process.env): number {
  for (const key of [`BENCH_${name.toUpperCase()}_DEADLINE_S`, "BENCH_DEADLINE_S"]) {
    const raw = env[key];
    if (raw === undefined || raw === "") continue;
    const seconds = Number(raw);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`${key}=${raw}: a number of seconds above 0`);
    return seconds * 1000;
  }
  return defaultSeconds * 1000;
}
