/**
 * The run-wide test stack: a single-node Kafka and a redis-server, each on a free port with its
 * data in a temporary folder. Their addresses go into process.env (KAFKA_BROKERS, REDIS_URL) so
 * every role and helper started by a test finds them. The children run under pdeathsig: if the
 * test process dies, the kernel stops them.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalKafka, startKafka } from "../infra/kafka.ts";
import { freePort } from "../infra/process.ts";
import { type LocalRedis, startRedis } from "../infra/redis.ts";

export interface TestStack {
  kafka: LocalKafka;
  redis: LocalRedis;
  root: string;
}

let stack: TestStack | undefined;

export async function startTestStack(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "btc-test-"));
  const quiet = () => {};
  const [kafka, redis] = await Promise.all([
    startKafka({ ports: [freePort()], dataDir: join(root, "kafka"), log: quiet, heap: "512m" }),
    startRedis({ port: freePort(), dataDir: join(root, "redis"), persist: true }),
  ]);
  stack = { kafka, redis, root };
  process.env.KAFKA_BROKERS = kafka.brokers;
  process.env.REDIS_URL = redis.url;
}

export async function stopTestStack(): Promise<void> {
  if (!stack) return;
  const { kafka, redis, root } = stack;
  stack = undefined;
  await Promise.all([kafka.stop(), redis.stop()]);
  // Keep the broker's log of the run (warnings and errors) for when a test failed.
  const artifacts = join(import.meta.dir, "..", "..", "test", "artifacts");
  mkdirSync(artifacts, { recursive: true });
  for (const node of kafka.nodes) copyFileSync(node.logFile, join(artifacts, `kafka-${node.nodeId}.log`));
  rmSync(root, { recursive: true, force: true });
}

/**
 * The running stack. Do not stop and restart a part of it from a test: bun test kills, at the
 * end of a file, the children that file's tests spawned, and the other files need the stack.
 * A test that needs an outage starts its own redis-server or broker.
 */
export function testStack(): TestStack {
  if (!stack) throw new Error("the test stack is not running (test/setup.ts is preloaded by bunfig.toml)");
  return stack;
}
