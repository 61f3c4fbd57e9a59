/**
 * Producer throughput: the feed simulator at full speed (rate 0) -> the producer -> Kafka,
 * counting only transactions Kafka acknowledged, after a warm-up (connection, topic creation).
 *
 * The simulator runs as its own process (`bun run sim`, as in the demo) replaying a recording
 * of synthetic transactions, so the figure measures the producer, not the generator: the
 * synthetic generator alone costs about as much CPU per transaction as the producer.
 *
 * The producer's buffer holds every transaction (nothing dropped); if it drops any anyway, the
 * figure's wait would never end, so it stops with the deadline (bench/deadline.ts), whose report
 * gives the drops.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import { startProducer } from "../src/producer/producer.ts";
import { diesWithParent, freePort } from "../tools/infra/process.ts";
import { SyntheticFeed } from "../tools/sim/synthetic.ts";
import type { Bench } from "./index.ts";

const WARMUP = 5_000;
const COUNT = 200_000;
/** Distinct transactions in the recording, replayed in a loop: a realistic mix, without a 400 MB file. */
const DISTINCT = 20_000;

const bench: Bench = {
  name: "producer",
  // A run takes under a minute at 5,000 tx/s, a sixth of today's rate.
  deadlineSeconds: 300,
  async run(deadline) {
    const port = freePort();
    const id = Math.random().toString(36).slice(2, 8);
    const config = loadConfig({
      KAFKA_BROKERS: process.env.KAFKA_BROKERS,
      REDIS_URL: process.env.REDIS_URL,
      FEED_URL: `ws://127.0.0.1:${port}/inv`,
      TOPIC: `bench-producer-${id}`,
      REDIS_PREFIX: `bench-producer-${id}`,
      PRODUCER_BUFFER_MAX: String(WARMUP + COUNT),
      // Nothing dropped: the simulator at full speed outruns Kafka, and what waits is the backlog being measured.
      PRODUCER_BUFFER_BYTES: String(4 * 1024 ** 3),
      LOG_LEVEL: "warn",
    });
    const unwatch = deadline.watch("bench producer", config);
    deadline.step(`writing a recording of ${DISTINCT.toLocaleString("en-US")} transactions`);
    const dir = mkdtempSync(join(tmpdir(), "bench-producer-"));
    const recording = join(dir, "utx.jsonl");
    const feed = new SyntheticFeed(1);
    const now = Math.floor(Date.now() / 1000);
    await Bun.write(recording, Array.from({ length: DISTINCT }, (_, i) => `${JSON.stringify(feed.next(now - DISTINCT + i))}\n`).join(""));
    if (deadline.signal.aborted) rmSync(dir, { recursive: true, force: true });
    deadline.check();

    const loops = Math.ceil((WARMUP + COUNT) / DISTINCT);
    const sim = Bun.spawn(
      diesWithParent(["bun", "tools/sim/main.ts", "--port", String(port), "--rate", "0", "--replay", recording, "--loop", String(loops), "--count", String(WARMUP + COUNT)]),
      {
        cwd: join(import.meta.dir, ".."),
        env: { ...process.env, LOG_LEVEL: "warn" },
        stdout: "ignore",
        stderr: "inherit",
      },
    );
    const producer = startProducer({ config, log: createLogger("producer", config) });
    try {
      const published = () => producer.metrics.snapshot().producer_published_total ?? 0;
      const until = async (n: number) => {
        deadline.step(`waiting for Kafka to acknowledge ${n.toLocaleString("en-US")} transactions`);
        while (published() < n) await deadline.sleep(5);
        return performance.now();
      };
      const start = await until(WARMUP);
      const cpu = process.cpuUsage();
      const end = await until(WARMUP + COUNT);
      const { user, system } = process.cpuUsage(cpu);
      const perSecond = Math.round((COUNT / (end - start)) * 1000);
      const cpuPerTx = (user + system) / COUNT;
      console.error(`bench: producer: ${COUNT} transactions acknowledged in ${(end - start).toFixed(0)} ms, ${cpuPerTx.toFixed(1)} µs CPU each`, producer.metrics.snapshot());
      const note = `${cpuPerTx.toFixed(0)} µs of producer CPU per transaction; the simulator (replaying, own process) and Kafka share the ${cpus().length} cores`;
      unwatch();
      return { producer_tx_per_s: { value: perSecond, unit: "tx/s", goal: { op: ">=", value: 20_000 }, note } };
    } finally {
      await producer.stop();
      sim.kill();
      await sim.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
