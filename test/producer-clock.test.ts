/**
 * One clock, the producer's too (issue 17, item 6). The producer role runs as a process whose
 * clock is 10 minutes ahead, then as one 10 minutes behind: test/helpers/skewed-clock.ts, a
 * --preload that shifts every Date of the process by CLOCK_SKEW_MS. It is fed a recording stamped
 * with the real time (this machine's clock, which is Redis's). Every record must be what the feed
 * sent: each transaction's `time` unchanged, but for the one stamped beyond the future-time limit
 * by Redis's clock, which counts at its arrival; the arrival times, the dead letters' `at` and
 * every Kafka record timestamp (which picks where a replay starts) on Redis's TIME.
 *
 * Redis is reached through a relay, so it can be away for this process only: the producer ahead
 * starts before Redis answers (it must not read the feed on its own clock meanwhile); the one
 * behind loses Redis for longer than a clock refresh half-way (the clock keeps its offset).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { IHeaders, Kafka } from "kafkajs";
import { decodeTransaction, type Transaction } from "../src/domain/transaction.ts";
import { MAX_FUTURE_SECONDS } from "../src/feed/utx.ts";
import { dlqTopic } from "../src/kafka/client.ts";
import { CLOCK_REFRESH_MS } from "../src/redis/clock.ts";
import { freePort } from "../tools/infra/process.ts";
import { bounded, type TestEnv, testEnv, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";
import { hostPort, relayTo, viaPort } from "./helpers/relay.ts";

const SKEW_MS = 10 * 60_000;
const PRELOAD = ["--preload", join(import.meta.dir, "helpers", "skewed-clock.ts")];
const ARTIFACTS = join(import.meta.dir, "artifacts");
const FIXTURE = readFileSync(join(import.meta.dir, "fixtures", "utx-sample.jsonl"), "utf8")
  .trim()
  .split("\n");
const NOT_JSON = ['{"op":"utx","x":{"hash":', "no json at all"];

const envs = { ahead: testEnv(), behind: testEnv() };

/** Redis's TIME, unix ms. */
async function redisTime(env: TestEnv): Promise<number> {
  const [sec, usec] = await env.redis.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}

/**
 * The fixture's transactions stamped around `nowSec` (Redis's time): most a minute old or less,
 * one 4 minutes ahead (inside the future-time limit: kept) and one 8 minutes ahead (beyond it:
 * counted at its arrival); then two frames that are not JSON (dead letters).
 */
function recording(nowSec: number) {
  const sent = new Map<string, number>();
  const lines = FIXTURE.map((line, i) => {
    const m = JSON.parse(line);
    m.x.time = nowSec - 60 + i;
    sent.set(m.x.hash, m.x.time);
    return m;
  });
  const near = lines[0];
  near.x.time = nowSec + 4 * 60;
  const far = lines[1];
  far.x.time = nowSec + 8 * 60;
  sent.set(near.x.hash, near.x.time).set(far.x.hash, far.x.time);
  expect(8 * 60).toBeGreaterThan(MAX_FUTURE_SECONDS); // the test proves less than it says otherwise
  expect(4 * 60).toBeLessThan(MAX_FUTURE_SECONDS);
  return { text: [...lines.map((m) => JSON.stringify(m)), ...NOT_JSON].join("\n"), sent, far: far.x.hash as string };
}

interface Stamped {
  key: string;
  value: string;
  /** The Kafka record timestamp, unix ms. */
  timestamp: number;
  headers: IHeaders;
}

/** Every record of `topic`, with its timestamp: exactly `count` (the topic holds no more). */
async function readStamped(kafka: Kafka, topic: string, count: number): Promise<Stamped[]> {
  const admin = kafka.admin();
  await admin.connect();
  const held = (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  await admin.disconnect();
  expect(held).toBe(count);
  const consumer = kafka.consumer({ groupId: `read-${topic}-${Math.random()}`, maxWaitTimeInMs: 100 });
  const records: Stamped[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        records.push({ key: message.key?.toString() ?? "", value: message.value?.toString() ?? "", timestamp: Number(message.timestamp), headers: message.headers ?? {} });
      },
    });
    await waitFor(`${count} records read from ${topic}`, () => records.length >= count);
    return records;
  } finally {
    await bounded(`disconnecting the reader of ${topic}`, () => consumer.disconnect(), 10_000);
  }
}

/** Records the topic holds now, all partitions together. */
async function held(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  } catch {
    return 0; // not created yet
  } finally {
    await admin.disconnect();
  }
}

async function skewedProducer(name: "ahead" | "behind", skewMs: number, redisAway: "at start" | "half-way") {
  const env = envs[name];
  const { config, kafka } = env;
  const t0 = await redisTime(env);
  const { text, sent, far } = recording(Math.floor(t0 / 1000));
  const file = join(process.env.TMPDIR ?? "/tmp", `utx-clock-${config.TOPIC}.jsonl`);
  await Bun.write(file, text);
  const tag = `producer-clock-${name}`;
  const p = new Pipeline(env, tag);
  const port = freePort(); // the relay's: Redis for the producer
  let relay: { close(): void } | undefined;
  try {
    const sim = await p.feed({ replay: file, rate: 10, keepSent: "all" });
    if (redisAway === "half-way") relay = await relayTo(hostPort(config.REDIS_URL), port);
    p.spawn("producer", { CLOCK_SKEW_MS: String(skewMs), REDIS_URL: viaPort(config.REDIS_URL, port) }, PRELOAD);
    const log = () => readFileSync(join(ARTIFACTS, `${tag}-producer-1.log`), "utf8");

    if (redisAway === "at start") {
      // Its own clock is all it has: it waits, and reads nothing.
      await waitFor("the producer waiting for Redis's clock", () => /waiting for Redis's clock before reading the feed/.test(log()));
      expect(sim.sent()).toEqual([]);
      expect(p.frames.length + p.malformed).toBe(0);
      relay = await relayTo(hostPort(config.REDIS_URL), port);
    } else {
      await waitFor("10 transactions published", async () => (await held(kafka, config.TOPIC)) >= 10);
      // Redis away for longer than a clock refresh, the feed held meanwhile; then the rest flows.
      sim.pause();
      await waitFor("what was delivered published", async () => (await held(kafka, config.TOPIC)) === sim.sent().length);
      relay?.close();
      await Bun.sleep(CLOCK_REFRESH_MS + 5_000);
      sim.resume();
    }
    await waitFor(
      "every transaction and dead letter published",
      async () => (await held(kafka, config.TOPIC)) === sent.size && (await held(kafka, dlqTopic(config))) === NOT_JSON.length,
      60_000,
    );
    const t1 = await redisTime(env);
    expect(log()).toContain(`skewed clock: ${skewMs} ms`);

    const records = await readStamped(kafka, config.TOPIC, sent.size);
    expect(records.map((r) => r.key).sort()).toEqual([...sent.keys()].sort());
    for (const r of records) {
      const decoded = decodeTransaction(r.value);
      if (!decoded.ok) throw new Error(decoded.reason);
      const tx: Transaction = decoded.tx;
      // Arrival and stamp on Redis's clock: between its TIME before the producer started and after its last record.
      expect(tx.received_at).toBeGreaterThanOrEqual(t0);
      expect(tx.received_at).toBeLessThanOrEqual(t1);
      expect(r.timestamp).toBeGreaterThanOrEqual(tx.received_at - 1_000); // stamped when sent, after arriving (a re-measured offset moves by ms)
      expect(r.timestamp).toBeLessThanOrEqual(t1);
      // The time the feed sent, but for the one beyond the limit by Redis's clock, counted at its arrival.
      expect({ hash: tx.hash, time: tx.time }).toEqual({ hash: tx.hash, time: tx.hash === far ? Math.floor(tx.received_at / 1000) : (sent.get(tx.hash) as number) });
    }

    const letters = await readStamped(kafka, dlqTopic(config), NOT_JSON.length);
    expect(letters.map((l) => l.value).sort()).toEqual([...NOT_JSON].sort());
    for (const l of letters) {
      const at = Number(l.headers.at?.toString());
      expect(at).toBeGreaterThanOrEqual(t0);
      expect(l.timestamp).toBeGreaterThanOrEqual(at - 1_000);
      expect(l.timestamp).toBeLessThanOrEqual(t1);
    }
    console.log(
      `producer-clock: ${name}: ${records.length} transactions and ${letters.length} dead letters, stamped within Redis's TIME [${t0}, ${t1}]; ${sent.size - 1} times kept, 1 future one counted at arrival`,
    );
  } finally {
    await bounded("stopping the pipeline", () => p.stop(), 40_000);
    relay?.close();
    await Bun.file(file).delete();
  }
}

test("a producer 10 minutes ahead, started before Redis answers, publishes what the feed sent, stamped by Redis's clock", async () => {
  await skewedProducer("ahead", SKEW_MS, "at start");
}, 120_000);

test("a producer 10 minutes behind, losing Redis half-way for longer than a clock refresh, publishes what the feed sent, stamped by Redis's clock", async () => {
  await skewedProducer("behind", -SKEW_MS, "half-way");
}, 150_000);
