/**
 * `bun run bench e2e`: the whole pipeline, simulator -> producer -> Kafka -> every group of the
 * registry -> Redis, every role in its own process as `bun run demo` runs them (one process per
 * group).
 *
 *   e2e_tx_per_s         the simulator replays N distinct transactions at full speed; from the
 *                        first record in Kafka until every group has committed every record
 *                        (a group commits only what Redis acknowledged). The producer's buffer
 *                        is sized for the load: N messages (PRODUCER_BUFFER_MAX) and the bytes of
 *                        the N records it will write, with a margin (PRODUCER_BUFFER_BYTES), so
 *                        that at full speed it holds what Kafka has not acknowledged yet rather
 *                        than drop it. Whatever it drops anyway (its producer_dropped_total) is
 *                        in the note, the figure counts only the records that reached Kafka, and
 *                        the bench does not wait for the dropped ones.
 *   e2e_latency_p50_ms   the simulator sends 100 tx/s; for each transaction, from the simulator
 *   e2e_latency_p99_ms   handing it to the websocket until the API's read function finds it in
 *                        Redis (polled every 2 ms, so figures carry up to ~2 ms of polling);
 *                        a transaction the producer dropped is not waited for, and the note
 *                        says how many
 *
 * The deadline (bench/deadline.ts) grows with BENCH_E2E_TX; BENCH_E2E_DEADLINE_S replaces it.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../src/domain/config.ts";
import { readFeedMessage } from "../src/feed/utx.ts";
import { minuteBuckets } from "../src/projections/counts/read.ts";
import { transactionByHash } from "../src/projections/transactions/read.ts";
import { diesWithParent, freePort } from "../tools/infra/process.ts";
import { startSimulator } from "../tools/sim/server.ts";
import { SyntheticFeed } from "../tools/sim/synthetic.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { startConsumerProcesses, waitAllCommitted } from "./consumers.bench.ts";
import { type Deadline, readProducer } from "./deadline.ts";
import type { Bench, Figure } from "./index.ts";
import { benchRedis, liveNamespace } from "./live.ts";

const ROOT = join(import.meta.dir, "..");
const N = Number(process.env.BENCH_E2E_TX ?? 100_000);
const LATENCY_RATE = 100;
const LATENCY_COUNT = 2_000;
const LATENCY_WARMUP = 200;

/** Starts a file of the repository (`src/roles/producer.ts`, `tools/sim/main.ts`) as a process, which dies with this one. */
function spawnRole(file: string, env: Record<string, string>, args: string[] = []) {
  return Bun.spawn(diesWithParent([process.execPath, join(ROOT, file), ...args]), {
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

/**
 * What the producer's buffer must hold to take `lines` (feed frames) without dropping any while
 * Kafka lags: the bytes of the records it writes for them (key and value, as the buffer counts
 * them, src/producer/publisher.ts), a quarter more for the arrival stamps, and 1 MB.
 */
function bufferBytesFor(lines: readonly string[]): number {
  const now = Date.now();
  let bytes = 0;
  for (const line of lines) {
    const message = readFeedMessage(line, now);
    bytes += message.kind === "tx" ? Buffer.byteLength(message.tx.hash) + Buffer.byteLength(JSON.stringify(message.tx)) : Buffer.byteLength(line);
  }
  return Math.ceil(bytes * 1.25) + 1_000_000;
}

async function throughput(kafka: Kafka, redis: Redis, deadline: Deadline): Promise<Record<string, Figure>> {
  const port = freePort();
  const ns = liveNamespace("e2e", { FEED_URL: `ws://127.0.0.1:${port}/inv` });
  const unwatch = deadline.watch("bench e2e throughput", ns.config);
  deadline.step(`writing a recording of ${N.toLocaleString("en-US")} transactions`);
  const dir = mkdtempSync(join(tmpdir(), "bench-e2e-"));
  const recording = join(dir, "utx.jsonl");
  const feed = new SyntheticFeed(7);
  const now = Math.floor(Date.now() / 1000);
  const span = 170 * 60; // inside the 3-hour window (a group that keeps less finds the older ones stale, and commits them too)
  const lines: string[] = [];
  for (let i = 0; i < N; i++) lines.push(JSON.stringify(feed.next(now - span + Math.floor((i * span) / N))));
  await Bun.write(recording, `${lines.join("\n")}\n`);
  const bufferBytes = bufferBytesFor(lines);
  if (deadline.signal.aborted) rmSync(dir, { recursive: true, force: true });
  deadline.check();
  const env = { ...ns.env, PRODUCER_BUFFER_MAX: String(N), PRODUCER_BUFFER_BYTES: String(bufferBytes) };
  const config = loadConfig(env);
  // Consumers first (they create the topic and join their groups), then the feed.
  const consumers = startConsumerProcesses(env);
  const sim = spawnRole("tools/sim/main.ts", env, ["--port", String(port), "--rate", "0", "--replay", recording, "--count", String(N)]);
  const producer = spawnRole("src/roles/producer.ts", env);
  try {
    deadline.step(`waiting for the first record of ${config.TOPIC} in Kafka`);
    while ((await topicRecords(kafka, config.TOPIC)) === 0) await deadline.sleep(10);
    const start = Date.now();
    // Every transaction in Kafka, but those the producer dropped (its metrics reach Redis once a second).
    let dropped = 0;
    for (;;) {
      const [records, seen] = await Promise.all([topicRecords(kafka, config.TOPIC), readProducer(redis, config)]);
      dropped = seen.dropped;
      if (records + dropped >= N) break;
      deadline.step(
        `waiting for ${(N - dropped).toLocaleString("en-US")} records in Kafka (${records.toLocaleString("en-US")} so far, ${dropped.toLocaleString("en-US")} dropped by the producer)`,
      );
      await deadline.sleep(50);
    }
    const records = await topicRecords(kafka, config.TOPIC);
    const end = await Promise.race([waitAllCommitted(kafka, config, records, deadline), consumers.crashed]);
    const seconds = (end - start) / 1000;
    // The producer's last drops reach Redis within its next flush, a second at most.
    await deadline.sleep(1_100);
    dropped = (await readProducer(redis, config)).dropped;
    const delivered = N - dropped;
    // Every transaction that reached Kafka counted once: the minute buckets add up to them.
    const buckets = await minuteBuckets(redis, config, (now - span - 60) * 1000, span / 60 + 3);
    const counted = buckets.reduce((s, b) => s + b.count, 0);
    const droppedNote = dropped ? `the producer dropped ${dropped.toLocaleString("en-US")} of them (counted out of the figure)` : "the producer dropped none";
    console.error(
      `bench e2e: ${N} transactions (${records} records) through the pipeline in ${seconds.toFixed(1)} s; counted ${counted}; ${droppedNote}; buffer ${N} messages, ${bufferBytes} bytes`,
    );
    if (counted !== delivered) throw new Error(`bench e2e: counted ${counted} transactions, expected ${delivered} (${N} sent, ${dropped} dropped by the producer)`);
    unwatch();
    return {
      e2e_tx_per_s: {
        value: Math.round(delivered / seconds),
        unit: "tx/s",
        goal: { op: ">=", value: 20_000 },
        note:
          `${N} distinct transactions; ${droppedNote}, its buffer sized for the run (PRODUCER_BUFFER_MAX ${N}, PRODUCER_BUFFER_BYTES ${(bufferBytes / 1e6).toFixed(0)} MB); ` +
          "sim, producer, one process per group, Kafka and Redis on the same cores",
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

async function latency(kafka: Kafka, redis: Redis, deadline: Deadline): Promise<Record<string, Figure>> {
  const port = freePort();
  const { env, config } = liveNamespace("latency", { FEED_URL: `ws://127.0.0.1:${port}/inv` });
  const unwatch = deadline.watch("bench e2e latency", config);
  const consumers = startConsumerProcesses(env);
  // Let the groups join before the first transaction, so the figure is the steady state.
  deadline.step("letting the groups join");
  await deadline.sleep(3_000);
  const sim = await startSimulator({ port, rate: LATENCY_RATE, count: LATENCY_COUNT, seed: 11 });
  const producer = spawnRole("src/roles/producer.ts", env);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let dropped = 0;
  try {
    let known = 0;
    deadline.step(`waiting for ${LATENCY_COUNT} transactions sent at ${LATENCY_RATE} tx/s to be readable in Redis`);
    const limit = Date.now() + (LATENCY_COUNT / LATENCY_RATE) * 1000 + 60_000;
    let producerReadAt = 0;
    while (latencies.length < LATENCY_COUNT - dropped && Date.now() < limit) {
      if (Date.now() - producerReadAt >= 500) {
        dropped = (await readProducer(redis, config)).dropped;
        producerReadAt = Date.now();
      }
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
      await deadline.sleep(2);
    }
    dropped = (await readProducer(redis, config)).dropped;
    if (latencies.length < LATENCY_COUNT - dropped)
      throw new Error(`bench latency: only ${latencies.length} of ${LATENCY_COUNT} transactions reached Redis (${dropped} dropped by the producer)`);
    const steady = latencies.slice(LATENCY_WARMUP).sort((a, b) => a - b);
    const pct = (p: number) => Math.round((steady[Math.min(steady.length - 1, Math.floor(p * steady.length))] as number) * 10) / 10;
    console.error(
      `bench latency: ${steady.length} transactions at ${LATENCY_RATE} tx/s: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms; ${dropped} dropped by the producer`,
    );
    const note = `${LATENCY_RATE} tx/s, ${steady.length} transactions after ${LATENCY_WARMUP} warm-up${dropped ? ` (${dropped} dropped by the producer, not waited for)` : ""}; sim send -> readable by hash in Redis`;
    unwatch();
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
  // The throughput part at 250 tx/s or better (a tenth of the slowest run so far), the latency
  // part's 20 s and a minute of its own, and two minutes for start-ups and checks.
  deadlineSeconds: Math.round(120 + N / 250 + LATENCY_COUNT / LATENCY_RATE + 60),
  async run(deadline) {
    const kafka = new Kafka({ clientId: "bench-e2e", brokers: (process.env.KAFKA_BROKERS ?? "").split(","), logLevel: logLevel.NOTHING });
    const redis = benchRedis();
    try {
      return { ...(await throughput(kafka, redis, deadline)), ...(await latency(kafka, redis, deadline)) };
    } finally {
      redis.disconnect();
    }
  },
};

export default bench;
