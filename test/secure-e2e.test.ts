/**
 * End to end on the secure stack (tools/infra/secure-stack.ts; the run's shared one,
 * tools/testkit/secure.ts, under a REDIS_PREFIX, topic and groups of this file's own): Kafka over
 * SASL_SSL (SCRAM-SHA-512 and mutual TLS, no plaintext listener), Redis over TLS with one ACL user
 * per role. The producer and every consumer group run as real processes, each logged in to Redis as
 * its own user; the API (test/helpers/pipeline.ts, in this process) reads as the API's user, and
 * what it serves must equal the independent computation over the frames delivered
 * (test/helpers/expected.ts). Then:
 *   - the API role as a process answers /health (Kafka and Redis reached through TLS) and /metrics;
 *   - rebuild, as its user, drops a projection and the consumers replay it to the same figures;
 *   - a consumer run with another group's Redis user is refused (NOPERM), says so in its log,
 *     dead-letters nothing, and changes no figure;
 *   - no password of the stack appears in any captured log line, nor in /health or /metrics.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Kafka } from "kafkajs";
import { type Config, loadConfig } from "../src/domain/config.ts";
import type { Logger } from "../src/domain/log.ts";
import { createKafka, dlqTopic } from "../src/kafka/client.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { type Child, freePort, startChild } from "../tools/infra/process.ts";
import { type SharedSecureStack, secureStack } from "../tools/testkit/secure.ts";
import { waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(240_000);

const ROOT = join(import.meta.dir, "..");
const ARTIFACTS = join(ROOT, "test", "artifacts");
const TAG = "secure-e2e";
const PREFIX = "sece2e";
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, limited() {} };

let stack: SharedSecureStack;
let base: Record<string, string>;
let config: Config;
let kafka: Kafka;
let pipeline: Pipeline;
const others: Child[] = [];
/** Every password of the stack (Kafka's users, each Redis user). */
let secrets: string[];
/** Every answer of /health and /metrics the test saw. */
const answers: string[] = [];

/** `pipeline` made while this process's environment holds the API's variables (its Redis client reads them once). */
function pipelineAsApi(): Pipeline {
  const saved = { ...process.env };
  Object.assign(process.env, base, stack.roleEnv("api"));
  try {
    return new Pipeline({ config, env: base, kafka }, TAG, stack.roleEnv);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

beforeAll(async () => {
  stack = await secureStack();
  base = { ...stack.env, TOPIC: "secure-e2e", GROUP_PREFIX: "sec-", REDIS_PREFIX: PREFIX, LOG_LEVEL: "info" };
  config = loadConfig(base);
  kafka = createKafka(config, "secure-e2e-test", quiet);
  secrets = [
    config.KAFKA_SASL_PASSWORD,
    readFileSync(join(stack.dir, "secrets", "kafka-broker.password"), "utf8").trim(),
    ...stack.users.map((u) => readFileSync(stack.passwordFile(u), "utf8").trim()),
  ];
  expect(new Set(secrets).size).toBe(2 + stack.users.length);
  pipeline = pipelineAsApi();
});

afterAll(async () => {
  await Promise.all(others.map((c) => c.stop(10_000)));
  await pipeline?.stop();
});

/** Starts a role's entry point with `env`, its output in test/artifacts/secure-e2e-<name>.log. */
function run(name: string, entry: string[], env: Record<string, string>): Child {
  const logFile = join(ARTIFACTS, `${TAG}-${name}.log`);
  rmSync(logFile, { force: true });
  const child = startChild(name, [process.execPath, ...entry], { cwd: ROOT, logFile, env });
  others.push(child);
  return child;
}

const logOf = (name: string) => readFileSync(join(ARTIFACTS, `${TAG}-${name}.log`), "utf8");

test("the pipeline on SASL_SSL Kafka and TLS Redis, each role as its own user: the API serves exactly the independent computation", async () => {
  const sim = await pipeline.feed({ rate: 400, count: 3_000, seed: 20, duplicate: true });
  // The producer logs at debug, kafkajs' lines included: the widest net for a leaked secret.
  pipeline.spawn("producer", { ...stack.roleEnv("producer"), LOG_LEVEL: "debug" });
  for (const { role, processes } of PROJECTIONS) for (let i = 0; i < processes; i++) pipeline.spawn(`consumer-${role}`, stack.roleEnv(`consumer-${role}`));
  await sim.finished;
  expect(pipeline.frames.length).toBe(6_000);
  const result = await pipeline.settle();
  expect(result).toEqual({ transactions: 3_000, lost: 0, twice: 0 });
});

test("the API role answers /health over TLS and SASL (Kafka and Redis ok, every group there) and /metrics", async () => {
  const port = freePort();
  run("api", ["src/roles/api.ts"], { ...base, ...stack.roleEnv("api"), PORT: String(port) });
  const health = await waitFor(
    "/health of the API role: ok",
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (!res) return undefined;
      const text = await res.text();
      answers.push(text);
      return res.status === 200 ? (JSON.parse(text) as { redis: { ok: boolean }; kafka: { ok: boolean; topic_exists: boolean; groups: unknown[] } }) : undefined;
    },
    90_000,
  );
  expect({ redis: health.redis.ok, kafka: health.kafka.ok, topic: health.kafka.topic_exists, groups: health.kafka.groups.length }).toEqual({
    redis: true,
    kafka: true,
    topic: true,
    groups: PROJECTIONS.length,
  });
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await metrics.text();
  answers.push(text);
  expect(metrics.status).toBe(200);
  expect(text).toMatch(/^producer_received_total \d+/m);
  answers.push(JSON.stringify((await pipeline.get("/health")).body));
});

test("rebuild, as its own user, drops a projection; the consumers replay it to the same figures", async () => {
  const [first] = PROJECTIONS;
  const rebuild = run("rebuild", ["src/roles/rebuild.ts", "--group", first?.role as string], { ...base, ...stack.roleEnv("rebuild") });
  expect(await rebuild.proc.exited).toBe(0);
  expect(logOf("rebuild")).toMatch(new RegExp(`rebuild ${first?.role}: projection dropped \\(\\d+ keys\\)`));
  expect(await pipeline.settle()).toEqual({ transactions: 3_000, lost: 0, twice: 0 });
});

test("a consumer logged in as another group's user is refused (NOPERM), says so, dead-letters nothing and changes no figure", async () => {
  const [target, other] = PROJECTIONS;
  // A group of its own (another GROUP_PREFIX), so the real group keeps its partitions.
  const intruder = run("intruder", ["src/roles/consumer.ts", target?.role as string], {
    ...base,
    ...stack.roleEnv(`consumer-${other?.role}`),
    GROUP_PREFIX: "intruder-",
  });
  await waitFor("the intruder's log to say NOPERM", () => logOf("intruder").includes("NOPERM"), 90_000);
  expect(intruder.proc.exitCode === null || intruder.proc.exitCode !== 0).toBe(true);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    const dead = topics.includes(dlqTopic(config)) ? (await admin.fetchTopicOffsets(dlqTopic(config))).reduce((sum, p) => sum + Number(p.high), 0) : 0;
    expect(dead).toBe(0);
  } finally {
    await admin.disconnect();
  }
  expect(await pipeline.settle()).toEqual({ transactions: 3_000, lost: 0, twice: 0 });
  await intruder.stop(10_000);
});

test("no password of the stack in any captured log line, /health or /metrics", () => {
  const logs = readdirSync(ARTIFACTS)
    .filter((f) => f.startsWith(`${TAG}-`) && f.endsWith(".log"))
    .map((f) => readFileSync(join(ARTIFACTS, f), "utf8"));
  // The producer's debug log, every consumer, the API, rebuild and the intruder.
  expect(logs.length).toBeGreaterThanOrEqual(4 + PROJECTIONS.length);
  expect(answers.length).toBeGreaterThan(2);
  const captured = [...logs, ...answers].join("\n");
  expect(captured.length).toBeGreaterThan(10_000);
  for (const s of secrets) expect(captured.includes(s)).toBe(false);
});
