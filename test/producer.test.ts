/**
 * The producer against the real broker and the feed simulator: topic creation, the minute
 * partitioner, dead letters, reconnects, buffering while Kafka is unreachable, and SIGTERM.
 */
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import type { IHeaders, Kafka } from "kafkajs";
import { type Config, loadConfig } from "../src/domain/config.ts";
import { LATENESS_MS } from "../src/domain/coverage.ts";
import type { Level, Logger } from "../src/domain/log.ts";
import { createLogger } from "../src/domain/log.ts";
import { decodeTransaction } from "../src/domain/transaction.ts";
import { MAX_FRAME_BYTES, readFeedMessage } from "../src/feed/utx.ts";
import { dlqTopic } from "../src/kafka/client.ts";
import { feedDeadLetter, type Producer, startProducer } from "../src/producer/producer.ts";
import { MAX_RECORD_BYTES } from "../src/producer/publisher.ts";
import { metricsKey, producerHeldKey } from "../src/redis/keys.ts";
import { freePort } from "../tools/infra/process.ts";
import { type Simulator, startSimulator } from "../tools/sim/server.ts";
import { bounded, processGone, roleEnv, type TestEnv, testEnv, waitFor } from "./helpers/env.ts";
import { readTopic as readRecords } from "./helpers/kafka.ts";
import { hostPort, relayTo, viaPort } from "./helpers/relay.ts";

// test/setup.ts sets 60 s, but in Bun 1.3.14 a preload's default reaches only the first file of a
// run (https://github.com/oven-sh/bun/issues/43787); per file it holds.
setDefaultTimeout(60_000);

const FIXTURE = join(import.meta.dir, "fixtures", "utx-sample.jsonl");
const fixture = (await Bun.file(FIXTURE).text()).trim().split("\n");
const fixtureHashes = fixture.map((l) => JSON.parse(l).x.hash as string);

// One namespace per test: its own topic, dead-letter topic and metrics hash.
const envs = {
  publish: testEnv(),
  hash: testEnv(),
  dlq: testEnv(),
  huge: testEnv(),
  bigFrame: testEnv(),
  noRedis: testEnv(),
  reconnect: testEnv(),
  outage: testEnv(),
  heldLong: testEnv(),
  outageBytes: testEnv(),
  sigterm: testEnv(),
};

const FAST = {
  feedTiming: { pingEveryMs: 1_000, deadAfterMs: 5_000, backoffMinMs: 10, backoffMaxMs: 200 },
  publisherTiming: { lingerMs: 5, retryMinMs: 50, retryMaxMs: 500 },
};

const cleanup: (() => Promise<unknown> | unknown)[] = [];
// A cleanup step that hangs (a disconnect from a broker that is gone) must not hang the run.
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await bounded("producer test cleanup", stop, 15_000);
});

async function simulator(options: Parameters<typeof startSimulator>[0]): Promise<Simulator> {
  const sim = await startSimulator({ port: 0, ...options });
  cleanup.push(() => sim.stop());
  return sim;
}

function producer(config: Config): Producer {
  const p = startProducer({ config, log: createLogger("producer", config), ...FAST });
  cleanup.push(() => p.stop());
  return p;
}

const withFeed = (env: TestEnv, url: string, extra: Record<string, string> = {}) => loadConfig({ ...env.env, FEED_URL: url, ...extra });
const metric = (p: Producer, name: string) => p.metrics.snapshot()[name] ?? 0;

interface Record_ {
  partition: number;
  key: string;
  value: string;
  headers: IHeaders;
}

/** Every record of `topic` (exactly `count`), values as text. */
const readTopic = async (kafka: Kafka, topic: string, count: number): Promise<Record_[]> =>
  (await readRecords(kafka, topic, count)).map((r) => ({ ...r, value: r.value.toString() }));

test("creates the topic with 3 partitions and routes each transaction by minute(time) mod 3, keyed by hash", async () => {
  const { config, kafka, redis } = envs.publish;
  const sim = await simulator({ replay: FIXTURE, rate: 0 });
  const p = producer(withFeed(envs.publish, sim.url));
  await waitFor("the fixture published", () => metric(p, "producer_published_total") === fixture.length);

  const admin = kafka.admin();
  await admin.connect();
  const meta = await admin.fetchTopicMetadata({ topics: [config.TOPIC] });
  await admin.disconnect();
  expect(meta.topics[0]?.partitions.length).toBe(3);

  const records = await readTopic(kafka, config.TOPIC, fixture.length);
  expect(records.map((r) => r.key).sort()).toEqual([...fixtureHashes].sort());
  const used = new Set<number>();
  for (const r of records) {
    const decoded = decodeTransaction(r.value);
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.tx.hash).toBe(r.key);
    expect({ v: decoded.tx.v, weight: decoded.tx.weight }).toEqual({ v: 2, weight: null }); // the fixture's frames carry no weight
    expect(r.partition).toBe(Math.floor(decoded.tx.time / 60) % 3);
    used.add(r.partition);
  }
  expect(used.size).toBe(3); // the fixture spans six minutes

  // Metrics reach Redis for the API.
  await waitFor("metrics in Redis", async () => Number(await redis.hget(metricsKey(config), "producer_published_total")) === fixture.length);
  const stored = await redis.hgetall(metricsKey(config));
  expect(Number(stored.producer_received_total)).toBe(fixture.length);
  expect(Number(stored.producer_last_message_at_ms)).toBeGreaterThan(Date.now() - 60_000);
  expect(stored.producer_invalid_total).toBeUndefined();
});

test("PARTITIONER=hash routes by the key: one hash, one partition, whatever its minute", async () => {
  const { config, kafka } = envs.hash;
  // The same transaction stamped in three different minutes (hence three minute partitions).
  const line = JSON.parse(fixture[0] as string);
  const file = join(process.env.TMPDIR ?? "/tmp", `utx-hash-${config.TOPIC}.jsonl`);
  await Bun.write(file, [0, 60, 120].map((shift) => JSON.stringify({ ...line, x: { ...line.x, time: line.x.time + shift } })).join("\n"));
  cleanup.push(() => Bun.file(file).delete());
  const sim = await simulator({ replay: file, rate: 0 });
  const p = producer(withFeed(envs.hash, sim.url, { PARTITIONER: "hash" }));
  await waitFor("published", () => metric(p, "producer_published_total") === 3);
  const records = await readTopic(kafka, config.TOPIC, 3);
  expect(new Set(records.map((r) => r.partition)).size).toBe(1);
});

test("every kind of bad input is dead-lettered with the raw payload and the reason; good input still flows", async () => {
  const { config, kafka } = envs.dlq;
  const good = JSON.parse(fixture[0] as string);
  const bad = (edit: (x: Record<string, unknown> & { out: { value: unknown }[] }) => void) => {
    const m = structuredClone(good);
    edit(m.x);
    return JSON.stringify(m);
  };
  const cases: [string, RegExp][] = [
    ['{"op":"utx","x":{"hash":', /not JSON/],
    [bad((x) => delete x.hash), /^\/x\/hash: Expected required property/],
    [bad((x) => delete x.time), /^\/x\/time: Expected required property/],
    [bad((x) => (x.time = "yesterday")), /^\/x\/time: Expected integer/],
    [bad((x) => ((x.out[0] as { value: unknown }).value = -7)), /^\/x\/out\/0\/value: Expected integer to be greater or equal to 0/],
    [bad((x) => ((x.out[0] as { value: unknown }).value = 0.25)), /^\/x\/out\/0\/value: Expected integer/],
    [bad((x) => (x.size = 50_000_000)), /^\/x\/size: Expected integer to be less or equal/],
    [bad((x) => (x.weight = 4_000_001)), /^\/x\/weight: Expected integer to be less or equal to 4000000/],
    [bad((x) => (x.weight = -1)), /^\/x\/weight: Expected integer to be greater or equal to 0/],
    [bad((x) => ((x.out[0] as { value: unknown }).value = 3e15)), /^\/x\/out\/0\/value: Expected integer to be less or equal to 2100000000000000/],
  ];
  // The good one carries a weight, as the feed's frames do today: the record keeps it.
  const weighed = JSON.parse(fixture[1] as string);
  weighed.x.weight = 3 * weighed.x.size;
  const file = join(process.env.TMPDIR ?? "/tmp", `utx-bad-${config.TOPIC}.jsonl`);
  await Bun.write(file, [...cases.map(([frame]) => frame), JSON.stringify(weighed)].join("\n"));
  cleanup.push(() => Bun.file(file).delete());

  const sim = await simulator({ replay: file, rate: 0 });
  const p = producer(withFeed(envs.dlq, sim.url));
  await waitFor("dead letters and the good one published", () => metric(p, "producer_invalid_total") === cases.length && metric(p, "producer_published_total") === 1);

  const letters = await readTopic(kafka, dlqTopic(config), cases.length);
  for (const [i, [frame, reason]] of cases.entries()) {
    const letter = letters[i] as Record_;
    expect(letter.value).toBe(frame);
    expect(letter.headers.source?.toString()).toBe("feed");
    expect(letter.headers.reason?.toString()).toMatch(reason);
    expect(Number(letter.headers.at?.toString())).toBeGreaterThan(0);
  }
  const published = await readTopic(kafka, config.TOPIC, 1);
  expect(published[0]?.key).toBe(fixtureHashes[1] as string);
  const record = decodeTransaction(published[0]?.value ?? null);
  expect(record.ok && { v: record.tx.v, weight: record.tx.weight }).toEqual({ v: 2, weight: 3 * weighed.x.size });
  expect(metric(p, "producer_received_total")).toBe(cases.length + 1);
});

test("a transaction too large for one Kafka record is dropped and counted, not silently lost; the next one flows", async () => {
  const { config, kafka } = envs.huge;
  const line = JSON.parse(fixture[2] as string);
  const outputs = Array.from({ length: 12_000 }, (_, n) => ({ addr: `bc1p${"q".repeat(58)}`, value: 1_000, n, script: `5120${"ab".repeat(32)}` }));
  const huge = { ...line, x: { ...line.x, out: outputs, inputs: [{ prev_out: { addr: null, value: 12_000_000 } }] } };
  const file = join(process.env.TMPDIR ?? "/tmp", `utx-huge-${config.TOPIC}.jsonl`);
  await Bun.write(file, [JSON.stringify(huge), fixture[3]].join("\n"));
  cleanup.push(() => Bun.file(file).delete());
  const sim = await simulator({ replay: file, rate: 0 });
  const p = producer(withFeed(envs.huge, sim.url));
  await waitFor("the small one published", () => metric(p, "producer_published_total") === 1);
  expect(metric(p, "producer_dropped_total")).toBe(1);
  expect(metric(p, "producer_received_total")).toBe(2);
  expect((await readTopic(kafka, config.TOPIC, 1))[0]?.key).toBe(fixtureHashes[3] as string);
});

test("a frame above MAX_FRAME_BYTES is refused unread and dead-lettered cut, with its size; the next one flows", async () => {
  const { config, kafka } = envs.bigFrame;
  // Valid but for its size: an unknown field of 5 MB (the reader would ignore it, had it read it).
  const line = JSON.parse(fixture[4] as string);
  const big = JSON.stringify({ ...line, x: { ...line.x, junk: "j".repeat(5 * 1024 * 1024) } });
  expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_FRAME_BYTES);
  const file = join(process.env.TMPDIR ?? "/tmp", `utx-bigframe-${config.TOPIC}.jsonl`);
  await Bun.write(file, [big, fixture[5]].join("\n"));
  cleanup.push(() => Bun.file(file).delete());
  const sim = await simulator({ replay: file, rate: 0 });
  const p = producer(withFeed(envs.bigFrame, sim.url));
  await waitFor("the small one published, the big one dead-lettered", () => metric(p, "producer_published_total") === 1 && metric(p, "producer_invalid_total") === 1);
  expect(metric(p, "producer_dropped_total")).toBe(0);

  const [letter] = await readTopic(kafka, dlqTopic(config), 1);
  expect(letter?.value).toBe(big.slice(0, MAX_RECORD_BYTES));
  expect(letter?.headers.raw_bytes?.toString()).toBe(String(Buffer.byteLength(big)));
  expect(letter?.headers.reason?.toString()).toBe(`frame of ${Buffer.byteLength(big)} bytes, above the ${MAX_FRAME_BYTES}-byte limit: not read`);
  expect((await readTopic(kafka, config.TOPIC, 1))[0]?.key).toBe(fixtureHashes[5] as string);
});

test("a cut dead letter holds its first MAX_RECORD_BYTES in a buffer of its own, not a view of the whole frame", () => {
  const binary = Buffer.alloc(20 * 1024 * 1024, 0xff);
  const fromBinary = feedDeadLetter(binary, "not UTF-8", 1).value as Buffer;
  expect(fromBinary.length).toBe(MAX_RECORD_BYTES);
  expect(fromBinary.buffer.byteLength).toBeLessThanOrEqual(MAX_RECORD_BYTES); // the 20 MB are not kept alive
  expect(fromBinary.equals(binary.subarray(0, MAX_RECORD_BYTES))).toBe(true);

  // A text frame is cut by bytes, as its UTF-8 would be: here a 4-byte character straddles the cut.
  const text = `${"a".repeat(MAX_RECORD_BYTES - 2)}😀${"é".repeat(600_000)}`;
  const letter = feedDeadLetter(text, "not JSON", 1);
  expect((letter.value as Buffer).equals(Buffer.from(text).subarray(0, MAX_RECORD_BYTES))).toBe(true);
  expect(letter.headers?.raw_bytes).toBe(String(Buffer.byteLength(text)));

  // Small letters are unchanged.
  expect(feedDeadLetter("{", "not JSON", 1).value).toBe("{");
  expect(feedDeadLetter("{", "not JSON", 1).headers?.raw_bytes).toBeUndefined();
});

test("Redis unreachable at start: no frame is read until Redis answers TIME; Redis going away later does not stop ingestion", async () => {
  const { config, kafka } = envs.noRedis;
  const port = freePort(); // nothing listens there yet
  const sim = await simulator({ rate: 50, seed: 5, keepSent: "all" });
  const log = recordingLogger();
  const p = startProducer({ config: withFeed(envs.noRedis, sim.url, { REDIS_URL: viaPort(config.REDIS_URL, port) }), log, ...FAST });
  cleanup.push(() => p.stop());
  // Its only clock would be this host's: it waits rather than stamp a transaction with it.
  await waitFor("the producer waiting for Redis's clock", () => log.lines.some((l) => l.level === "warn" && /^waiting for Redis's clock before reading the feed/.test(l.message)));
  expect(sim.sent()).toEqual([]);
  expect(metric(p, "producer_received_total")).toBe(0);

  const relay = await relayTo(hostPort(config.REDIS_URL), port);
  cleanup.push(() => relay.close());
  await waitFor("20 transactions published", () => metric(p, "producer_published_total") >= 20);

  // Redis away again: the clock keeps its offset and the feed still flows to Kafka.
  relay.close();
  const before = metric(p, "producer_published_total");
  await waitFor("50 more published without Redis", () => metric(p, "producer_published_total") >= before + 50);
  sim.pause();
  await waitFor("everything delivered published", () => metric(p, "producer_published_total") === sim.sent().length);
  const records = await readTopic(kafka, config.TOPIC, sim.sent().length);
  expect(records.map((r) => r.key).sort()).toEqual([...sim.sent()].sort());
});

test("reconnects after the feed drops the connection; every transaction delivered is in Kafka exactly once", async () => {
  const { config, kafka } = envs.reconnect;
  const sim = await simulator({ rate: 0, count: 400, dropEvery: 50, seed: 7, keepSent: "all" });
  const p = producer(withFeed(envs.reconnect, sim.url));
  await sim.finished;
  const sent = sim.sent();
  expect(sent.length).toBeGreaterThan(300); // the drops lose little: the simulator waits for a subscriber
  await waitFor("everything delivered published", () => metric(p, "producer_published_total") === sent.length);
  expect(metric(p, "producer_reconnects_total")).toBeGreaterThanOrEqual(Math.floor(sent.length / 50) - 1);

  const records = await readTopic(kafka, config.TOPIC, sent.length);
  expect(records.map((r) => r.key).sort()).toEqual([...sent].sort());
  expect(new Set(sent).size).toBe(sent.length);
});

test("while Kafka is unreachable it holds up to PRODUCER_BUFFER_MAX, counts the drops, and delivers the held ones when Kafka is back", async () => {
  const { config, kafka } = envs.outage;
  const port = freePort(); // nothing listens there yet
  const sim = await simulator({ replay: FIXTURE, rate: 0 });
  const p = producer(withFeed(envs.outage, sim.url, { KAFKA_BROKERS: `127.0.0.1:${port}`, PRODUCER_BUFFER_MAX: "20" }));
  await waitFor("the fixture received", () => metric(p, "producer_received_total") === fixture.length);
  expect(metric(p, "producer_dropped_total")).toBe(fixture.length - 20);
  expect(metric(p, "producer_published_total")).toBe(0);

  const relay = await relayTo(config.KAFKA_BROKERS, port);
  cleanup.push(() => relay.close());
  await waitFor("the held transactions published", () => metric(p, "producer_published_total") === 20, 45_000);
  const records = await readTopic(kafka, config.TOPIC, 20);
  expect(records.map((r) => r.key).sort()).toEqual(fixtureHashes.slice(0, 20).sort());
});

test("a span held past LATENESS_MS is reported while held, then reported flushed once Kafka has taken it (src/domain/coverage.ts Held)", async () => {
  const { config, redis } = envs.heldLong;
  const port = freePort(); // nothing listens there yet
  const sim = await simulator({ replay: FIXTURE, rate: 0 });
  const p = producer(withFeed(envs.heldLong, sim.url, { KAFKA_BROKERS: `127.0.0.1:${port}` }));
  await waitFor("the fixture received", () => metric(p, "producer_received_total") === fixture.length);
  const key = producerHeldKey(config);
  type Report = { held_since_ms: number; written_ms?: number; flushed_ms?: number };
  const reports = async () => Object.entries(await redis.hgetall(key)).map(([field, value]) => ({ field, ...(JSON.parse(value) as Report) }));

  // Held: one live report, rewritten every second (the only field: nothing was flushed yet), its span older than L once the hold is long.
  let since = 0;
  await waitFor(
    "a report of a span held past L",
    async () => {
      const live = (await reports()).filter((r) => r.written_ms !== undefined);
      expect(live.map((r) => r.field)).toEqual(live.length ? [`${process.pid}@${hostname()}`] : []);
      since = live[0]?.held_since_ms ?? 0;
      return live.length === 1 && (live[0]?.written_ms ?? 0) - since > LATENESS_MS;
    },
    15_000,
  );
  const [seconds, micros] = await redis.time();
  const beforeKafkaMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

  const relay = await relayTo(config.KAFKA_BROKERS, port);
  cleanup.push(() => relay.close());
  await waitFor("the held transactions published", () => metric(p, "producer_published_total") === fixture.length, 45_000);
  // Taken: the live report says nothing is held (its own time), and the span stays reported
  // flushed, from the same start, at a moment after Kafka was back.
  const id = `${process.pid}@${hostname()}`;
  await waitFor(
    "nothing held, the span reported flushed",
    async () => {
      const now = await reports();
      const live = now.find((r) => r.field === id);
      return now.length === 2 && now.some((r) => r.field === `${id}:flushed`) && live?.held_since_ms === live?.written_ms;
    },
    10_000,
  );
  const flushed = (await reports()).find((r) => r.field === `${id}:flushed`);
  expect(flushed?.held_since_ms).toBe(since);
  expect(flushed?.flushed_ms).toBeGreaterThan(beforeKafkaMs);
  // A producer stopping deletes its live report and keeps the flushed span: its transactions may still be on their way to the projections.
  await p.stop();
  expect((await reports()).map((r) => r.field)).toEqual([`${id}:flushed`]);
});

/** A logger that keeps what it is told, to check what an operator would read. */
function recordingLogger(): Logger & { lines: { level: Level; message: string }[] } {
  const lines: { level: Level; message: string }[] = [];
  const add = (level: Level) => (message: string) => void lines.push({ level, message });
  return { lines, debug: add("debug"), info: add("info"), warn: add("warn"), error: add("error"), limited: (_key, level, message) => add(level)(message) };
}

test("while Kafka is unreachable the buffer is bounded in bytes too: what does not fit is dropped, counted and logged", async () => {
  const BOUND = 1_000_000;
  const COUNT = 30;
  // Transactions of ~100 KB each, all the same size: 1,500 outputs of the same shape.
  const line = JSON.parse(fixture[6] as string);
  const lines = Array.from({ length: COUNT }, (_, i) => {
    const hash = Bun.SHA256.hash(`large ${i}`, "hex");
    const out = Array.from({ length: 1_500 }, (_, n) => ({ addr: `bc1q${String(i).padStart(4, "0")}${String(n).padStart(34, "0")}`, value: 100_000, n }));
    return JSON.stringify({ ...line, x: { ...line.x, hash, inputs: [{ prev_out: { addr: null, value: 200_000_000 } }], out } });
  });
  const read = readFeedMessage(lines[0] as string, Date.now());
  if (read.kind !== "tx") throw new Error(`not a transaction: ${JSON.stringify(read)}`);
  // What one record weighs in the buffer: key and value (no headers). received_at has 13 digits for centuries.
  const recordBytes = 64 + Buffer.byteLength(JSON.stringify(read.tx));
  expect(recordBytes).toBeGreaterThan(90_000);
  const fits = Math.floor(BOUND / recordBytes);
  expect(fits).toBeLessThan(COUNT);

  const { config } = envs.outageBytes;
  const file = join(process.env.TMPDIR ?? "/tmp", `utx-large-${config.TOPIC}.jsonl`);
  await Bun.write(file, lines.join("\n"));
  cleanup.push(() => Bun.file(file).delete());
  const sim = await simulator({ replay: file, rate: 0 });
  const producerConfig = withFeed(envs.outageBytes, sim.url, { KAFKA_BROKERS: `127.0.0.1:${freePort()}`, PRODUCER_BUFFER_BYTES: String(BOUND) });
  expect(producerConfig.PRODUCER_BUFFER_MAX).toBe(100_000); // the count bound is far away
  const log = recordingLogger();
  const p = startProducer({ config: producerConfig, log, ...FAST });
  cleanup.push(() => p.stop());

  await waitFor("every large transaction received", () => metric(p, "producer_received_total") === COUNT);
  // Nothing leaves the buffer while Kafka is away, so what it holds now is the most it ever held.
  expect(metric(p, "producer_buffer_messages")).toBe(fits);
  expect(metric(p, "producer_buffer_bytes")).toBe(fits * recordBytes);
  expect(metric(p, "producer_buffer_bytes")).toBeLessThanOrEqual(BOUND);
  expect(metric(p, "producer_dropped_total")).toBe(COUNT - fits);
  expect(metric(p, "producer_published_total")).toBe(0);
  expect(metric(p, "producer_invalid_total")).toBe(0);
  const full = log.lines.filter((l) =>
    /^buffer full \(\d+ bytes in \d+ messages waiting for Kafka, limit 1000000\): dropped transaction [0-9a-f]{64} of \d+ bytes/.test(l.message),
  );
  expect(full.length).toBeGreaterThanOrEqual(1);
  expect(full.every((l) => l.level === "error")).toBe(true);
});

test("SIGTERM: the producer role flushes what it holds to Kafka and exits 0", async () => {
  const { config, env, kafka, redis } = envs.sigterm;
  const sim = await simulator({ rate: 500, seed: 11 });
  // Its log goes to a file: a pipe nobody reads while it runs would block it once full.
  const logFile = join(import.meta.dir, "artifacts", "producer-sigterm.log");
  mkdirSync(dirname(logFile), { recursive: true });
  const child = Bun.spawn([process.execPath, "src/roles/producer.ts"], {
    cwd: join(import.meta.dir, ".."),
    // Info: a stop that does not end shows which of its steps it reached.
    env: { ...process.env, ...env, ...roleEnv("producer"), FEED_URL: sim.url, LOG_LEVEL: "info" },
    stdout: "ignore",
    stderr: Bun.file(logFile),
  });
  cleanup.push(() => child.kill("SIGKILL"));
  const key = metricsKey(config);
  await waitFor("the role publishing", async () => Number(await redis.hget(key, "producer_published_total")) > 100);
  child.kill("SIGTERM");
  // Bounded, so that a producer that does not stop shows its log rather than a test timeout.
  // The exit as Bun reports it, or, when Bun misses it (seen in long full runs), as the kernel does.
  const gone = waitFor("the producer to exit", () => processGone(child.pid), 30_000).then(() => child.exitCode ?? "gone");
  const code = await Promise.race([child.exited, gone]).catch(() => "still running 30 s after SIGTERM");
  const log = await Bun.file(logFile).text();
  if (code !== 0) console.error(log);
  // Stopped gracefully: the last step of its stop logged, and exit code 0 wherever Bun reported one.
  expect(log).toMatch(/producer stopped/);
  if (code !== "gone") expect(code).toBe(0);

  const stored = await redis.hgetall(key);
  const received = Number(stored.producer_received_total);
  expect(received).toBeGreaterThan(100);
  expect(Number(stored.producer_published_total)).toBe(received);
  expect(stored.producer_dropped_total).toBeUndefined();
  const records = await readTopic(kafka, config.TOPIC, received);
  expect(new Set(records.map((r) => r.key)).size).toBe(received);
});
