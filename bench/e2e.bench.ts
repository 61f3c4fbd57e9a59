/**
 * `bun run bench e2e`: the whole pipeline, simulator -> producer -> Kafka -> every group of the
 * registry -> Redis, every role in its own process as `bun run demo` runs them (one process per
 * group).
 *
 *   e2e_tx_per_s         the simulator replays N distinct transactions at full speed; from the
 *                        first record in Kafka until every group has committed every record
 *                        (a group commits only what Redis acknowledged)
 *   e2e_latency_p50_ms   the simulator sends 100 tx/s; for each transaction, from the simulator
 *   e2e_latency_p99_ms   handing it to the websocket until the API's read function finds it in
 *                        Redis (polled every 2 ms, so figures carry up to ~2 ms of polling)
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../src/domain/config.ts";
import { minuteBuckets } from "../src/projections/counts/read.ts";
import { transactionByHash } from "../src/projections/transactions/read.ts";
import { freePort } from "../tools/infra/process.ts";
import { startSimulator } from "../tools/sim/server.ts";
import { SyntheticFeed } from "../tools/sim/synthetic.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { startConsumerProcesses, waitAllCommitted } from "./consumers.bench.ts";
import type { Bench, Figure } from "./index.ts";

const ROOT = join(import.meta.dir, "..");
const N = Number(process.env.BENCH_E2E_TX ?? 100_000);
const LATENCY_RATE = 100;
const LATENCY_COUNT = 2_000;
const LATENCY_WARMUP = 200;

function namespace(name: string, extra: Record<string, string> = {}) {
  const id = Math.random().toString(36).slice(2, 8);
  const env = {
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "",
    REDIS_URL: process.env.REDIS_URL ?? "",
    TOPIC: `bench-${name}-${id}`,
    GROUP_PREFIX: `bench-${name}-${id}-`,
    REDIS_PREFIX: `bench-${name}-${id}`,
    LOG_LEVEL: "warn",
    ...extra,
  };
  return { env, config: loadConfig(env) };
}

/** Starts a file of the repository (`src/roles/producer.ts`, `tools/sim/main.ts`) as a process. */
function spawnRole(file: string, env: Record<string, string>, args: string[] = []) {
  return Bun.spawn([process.execPath, join(ROOT, file), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "ignore",
    stderr: "inherit",
  });
}

async function topicRecords(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high), 0);
  } catch {
    return 0;
  } finally {
    await admin.disconnect();
  }
}

async function throughput(kafka: Kafka, redis: Redis): Promise<Record<string, Figure>> {
  const dir = mkdtempSync(join(tmpdir(), "bench-e2e-"));
  const recording = join(dir, "utx.jsonl");
  const feed = new SyntheticFeed(7);
  const now = Math.floor(Date.now() / 1000);
  const span = 170 * 60; // inside the 3-hour window (a group that keeps less finds the older ones stale, and commits them too)
  const lines: string[] = [];
  for (let i = 0; i < N; i++) lines.push(JSON.stringify(feed.next(now - span + Math.floor((i * span) / N))));
  await Bun.write(recording, `${lines.join("\n")}\n`);

  const port = freePort();
  const { env, config } = namespace("e2e", { FEED_URL: `ws://127.0.0.1:${port}/inv`, PRODUCER_BUFFER_MAX: String(N) });
  // Consumers first (they create the topic and join their groups), then the feed.
  const consumers = startConsumerProcesses(env);
  const sim = spawnRole("tools/sim/main.ts", env, ["--port", String(port), "--rate", "0", "--replay", recording, "--count", String(N)]);
  const producer = spawnRole("src/roles/producer.ts", env);
  try {
    let start = 0;
    while ((await topicRecords(kafka, config.TOPIC)) === 0) await Bun.sleep(10);
    start = Date.now();
    while ((await topicRecords(kafka, config.TOPIC)) < N) await Bun.sleep(50);
    const records = await topicRecords(kafka, config.TOPIC);
    const end = await waitAllCommitted(kafka, config, records);
    const seconds = (end - start) / 1000;
    // Every transaction counted once: the minute buckets add up to N.
    const buckets = await minuteBuckets(redis, config, (now - span - 60) * 1000, span / 60 + 3);
    const counted = buckets.reduce((s, b) => s + b.count, 0);
    console.error(`bench e2e: ${N} transactions (${records} records) through the pipeline in ${seconds.toFixed(1)} s; counted ${counted}`);
    if (counted !== N) throw new Error(`bench e2e: counted ${counted} transactions, expected ${N}`);
    return {
      e2e_tx_per_s: {
        value: Math.round(N / seconds),
        unit: "tx/s",
        goal: { op: ">=", value: 20_000 },
        note: `${N} distinct transactions; sim, producer, one process per group, Kafka and Redis on the same cores`,
      },
    };
  } finally {
    producer.kill("SIGTERM");
    sim.kill("SIGTERM");
    await Promise.all([producer.exited, sim.exited, consumers.stop()]);
    await dropNamespace(kafka, redis, config);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function latency(kafka: Kafka, redis: Redis): Promise<Record<string, Figure>> {
  const port = freePort();
  const { env, config } = namespace("latency", { FEED_URL: `ws://127.0.0.1:${port}/inv` });
  const consumers = startConsumerProcesses(env);
  // Let the groups join before the first transaction, so the figure is the steady state.
  await Bun.sleep(3_000);
  const sim = await startSimulator({ port, rate: LATENCY_RATE, count: LATENCY_COUNT, seed: 11 });
  const producer = spawnRole("src/roles/producer.ts", env);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  try {
    let known = 0;
    const deadline = Date.now() + (LATENCY_COUNT / LATENCY_RATE) * 1000 + 60_000;
    while (latencies.length < LATENCY_COUNT && Date.now() < deadline) {
      const sent = sim.sent();
      const t = performance.now();
      for (; known < sent.length; known++) sentAt.set(sent[known] as string, t);
      const pending = [...sentAt.keys()];
      const found = await Promise.all(pending.map((hash) => transactionByHash(redis, config, hash)));
      const t2 = performance.now();
      pending.forEach((hash, i) => {
        if (!found[i]) return;
        latencies.push(t2 - (sentAt.get(hash) as number));
        sentAt.delete(hash);
      });
      await Bun.sleep(2);
    }
    if (latencies.length < LATENCY_COUNT) throw new Error(`bench latency: only ${latencies.length} of ${LATENCY_COUNT} transactions reached Redis`);
    const steady = latencies.slice(LATENCY_WARMUP).sort((a, b) => a - b);
    const pct = (p: number) => Math.round((steady[Math.min(steady.length - 1, Math.floor(p * steady.length))] as number) * 10) / 10;
    console.error(`bench latency: ${steady.length} transactions at ${LATENCY_RATE} tx/s: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms`);
    const note = `${LATENCY_RATE} tx/s, ${steady.length} transactions after ${LATENCY_WARMUP} warm-up; sim send -> readable by hash in Redis`;
    return {
      e2e_latency_p50_ms: { value: pct(0.5), unit: "ms", note },
      e2e_latency_p99_ms: { value: pct(0.99), unit: "ms", goal: { op: "<=", value: 100 }, note },
    };
  } finally {
    producer.kill("SIGTERM");
    await producer.exited;
    await Promise.race([sim.stop(), Bun.sleep(1_000)]); // sim.stop() can hang in Bun 1.3 (tools/sim/server.ts)
    await consumers.stop();
    await dropNamespace(kafka, redis, config);
  }
}

const bench: Bench = {
  name: "e2e",
  async run() {
    const kafka = new Kafka({ clientId: "bench-e2e", brokers: (process.env.KAFKA_BROKERS ?? "").split(","), logLevel: logLevel.NOTHING });
    const redis = new Redis(process.env.REDIS_URL ?? "", { enableAutoPipelining: true });
    try {
      return { ...(await throughput(kafka, redis)), ...(await latency(kafka, redis)) };
    } finally {
      redis.disconnect();
    }
  },
};

export default bench;
