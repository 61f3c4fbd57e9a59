/**
 * The whole pipeline under faults, on a Kafka broker and a redis-server of this file's own (so
 * they can be stopped and started again: the run's shared ones must stay up for other files).
 * The simulator feeds synthetic transactions all along; each test injects one fault while it
 * does, then ends with exact figures: the API serves the independent computation over every
 * frame delivered, nothing lost, nothing counted twice (test/helpers/pipeline.ts `settle`).
 *
 * The tests run in order on one pipeline, as the faults of a long day would. Records are routed
 * by hash (PARTITIONER=hash) so every partition, and so every counts consumer, has work all the
 * time: with the default minute partitioner only one partition is written in a given minute, and
 * killing a consumer that owns an idle one would prove nothing. The end-to-end tests
 * (e2e.test.ts) run the default partitioner.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../src/domain/config.ts";
import { groupId } from "../src/kafka/client.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { metricsKey } from "../src/redis/keys.ts";
import { type LocalKafka, startKafka } from "../tools/infra/kafka.ts";
import { freePort } from "../tools/infra/process.ts";
import { type LocalRedis, startRedis } from "../tools/infra/redis.ts";
import { testStack } from "../tools/testkit/stack.ts";
import { bounded, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(180_000);

const root = mkdtempSync(join(tmpdir(), "faults-"));
let kafka: LocalKafka;
let redis: LocalRedis;
let p: Pipeline;
let metrics: Redis;
/** Each fault survived, with the figures it ended with (printed at the end, quoted in the README). */
const survived: { fault: string; transactions: number; lost: number; twice: number }[] = [];

beforeAll(async () => {
  [kafka, redis] = await Promise.all([
    startKafka({ ports: [freePort()], dataDir: join(root, "kafka"), log: () => {}, heap: "512m" }),
    startRedis({ port: freePort(), dataDir: join(root, "redis"), persist: true, aclFile: testStack().aclFile }),
  ]);
  const env = { KAFKA_BROKERS: kafka.brokers, REDIS_URL: redis.url, LOG_LEVEL: "warn", PARTITIONER: "hash" };
  const config = loadConfig(env);
  p = new Pipeline({ config, env, kafka: new Kafka({ clientId: "faults-test", brokers: [kafka.brokers], logLevel: logLevel.NOTHING }) }, "faults");
  metrics = connectRedis(redis.url);
  await p.feed({ rate: 100, seed: 99 });
  p.spawnAll();
}, 180_000);

afterAll(async () => {
  await bounded("stopping the pipeline", () => p?.stop(), 40_000);
  metrics?.disconnect();
  await Promise.all([bounded("stopping the broker", () => kafka?.stop()), bounded("stopping redis-server", () => redis?.stop())]);
  rmSync(root, { recursive: true, force: true });
  for (const s of survived) console.log(`fault survived: ${s.fault}: ${s.transactions} transactions so far, lost ${s.lost}, counted twice ${s.twice}`);
  console.log(`faults: ${survived.length} of 7 survived`);
});

/** Lets the feed run for `ms` with the pipeline taking it in. */
const feedFor = (ms: number) => Bun.sleep(ms);

async function exact(fault: string) {
  const result = await p.settle();
  const m = await metrics.hgetall(metricsKey(p.env.config));
  // The producer never dropped a transaction (its buffer held everything while Kafka was away).
  expect(Number(m.producer_dropped_total ?? 0)).toBe(0);
  survived.push({ fault, ...result });
}

describe("faults during ingestion", () => {
  test("baseline: the running pipeline serves exact figures", async () => {
    // The feed starts before the roles have joined: wait for frames rather than for a time.
    await waitFor("100 frames delivered", () => p.frames.length > 100, 60_000);
    await exact("baseline");
    expect(p.frames.length).toBeGreaterThan(100);
  });

  test("consumers SIGKILLed while consuming, then restarted: redelivered records change nothing", async () => {
    await feedFor(1_500);
    // A consumer of every group with a process of its own (a group of several keeps its other members: the next test).
    const alone = PROJECTIONS.filter((q) => q.processes === 1);
    const killed = alone.map((q) => p.role(`consumer-${q.role}`));
    expect(killed.length).toBeGreaterThan(0);
    expect(killed.every((c) => c !== undefined)).toBe(true);
    for (const c of killed) c?.proc.kill("SIGKILL");
    await Promise.all(killed.map((c) => c?.proc.exited));
    await feedFor(2_000);
    for (const q of alone) p.spawn(`consumer-${q.role}`);
    await feedFor(2_000);
    await exact("consumers SIGKILLed and restarted");
  });

  test("one of the counts consumers stopped for good: its partitions move to the others", async () => {
    const spec = projectionOf("counts") as Projection;
    expect(spec.processes).toBeGreaterThan(1);
    const counts = p.role(`consumer-${spec.role}`);
    expect(counts).toBeDefined();
    counts?.proc.kill("SIGKILL");
    await counts?.proc.exited;
    await feedFor(3_000);
    await exact("a counts consumer gone for good");
    const admin = p.env.kafka.admin();
    await admin.connect();
    const [group] = (await admin.describeGroups([groupId(p.env.config, spec)])).groups;
    await admin.disconnect();
    expect(group?.members.length).toBe(spec.processes - 1);
  });

  test("the Kafka broker stopped and restarted during ingestion: every transaction delivered arrives exactly once", async () => {
    await feedFor(1_000);
    await kafka.stopNode(1);
    const during = p.frames.length;
    await feedFor(5_000);
    expect(p.frames.length).toBeGreaterThan(during + 200); // the feed went on while Kafka was away
    await kafka.startNode(1);
    await feedFor(2_000);
    await exact("Kafka broker stopped and restarted");
  });

  test("Redis stopped and restarted (with persistence) during ingestion: consumers pause and resume, nothing lost or counted twice", async () => {
    await feedFor(1_000);
    await redis.stop();
    await feedFor(4_000);
    await redis.restart();
    await feedFor(2_000);
    await exact("Redis stopped and restarted");
  });

  test("the feed dropping the connection repeatedly", async () => {
    const reconnects = async () => Number((await metrics.hget(metricsKey(p.env.config), "producer_reconnects_total")) ?? 0);
    const before = await reconnects();
    for (let i = 0; i < 5; i++) {
      // Each drop closes a connection: the producer subscribed again since the last (on a busy machine it can take longer than the feed's 700 ms).
      await waitFor(`the producer subscribed before drop ${i + 1}`, () => (p.sim?.subscribed() ?? 0) > 0, 60_000);
      await feedFor(700);
      p.sim?.dropConnections();
    }
    await feedFor(2_000);
    await exact("the feed dropping the connection 5 times");
    expect(await reconnects()).toBeGreaterThanOrEqual(before + 5);
  });

  test("two producers on the same feed (redundant ingestion): nothing counted twice", async () => {
    const second = p.spawn("producer");
    await feedFor(4_000);
    await second.stop();
    await exact("two producers on the same feed");
  });
});
