/**
 * The local stack: reuse what answers, start what does not, stop only what it started. Several
 * Redis seeds (what `bun run infra --cluster` prints) are a cluster: started on exactly those
 * ports when none answers, refused with one line when only some do.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/domain/config.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { startKafka } from "../tools/infra/kafka.ts";
import { freePort, portAnswers } from "../tools/infra/process.ts";
import { pingRedis } from "../tools/infra/redis.ts";
import { askNode } from "../tools/infra/redis-cluster.ts";
import { ensureStack } from "../tools/infra/stack.ts";
import { testEnv } from "./helpers/env.ts";

const { config } = testEnv();
const quiet = () => {};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("local stack", () => {
  test("uses the Kafka and Redis that answer, and starts nothing", async () => {
    const stack = await ensureStack(config, quiet);
    expect(stack.started).toEqual({});
    await stack.stop();
    expect(await pingRedis(config.REDIS_URL)).toBe(true);
  });

  test("starts redis-server on exactly the named localhost port, and stops it", async () => {
    const port = freePort();
    const url = `redis://localhost:${port}`;
    const stack = await ensureStack(loadConfig({ KAFKA_BROKERS: config.KAFKA_BROKERS, REDIS_URL: url }), quiet);
    expect(stack.started.kafka).toBeUndefined();
    expect(stack.started.redis?.url).toBe(`redis://127.0.0.1:${port}`);
    expect(await pingRedis(url)).toBe(true);
    await stack.stop();
    expect(await pingRedis(url)).toBe(false);
  });

  test("a remote address where nothing answers is an error, not a local start", async () => {
    const conf = loadConfig({ KAFKA_BROKERS: config.KAFKA_BROKERS, REDIS_URL: "redis://192.0.2.1:6379" });
    await expect(ensureStack(conf, quiet)).rejects.toThrow(/not on this machine/);
  });

  test("several Redis seeds where nothing answers: a Redis Cluster on exactly those ports, used as one, then used by the next call, and stopped", async () => {
    const root = mkdtempSync(join(tmpdir(), "btc-stack-cluster-"));
    const ports = Array.from({ length: 6 }, () => freePort());
    const url = ports.map((p) => `redis://localhost:${p}`).join(",");
    const conf = loadConfig({ KAFKA_BROKERS: config.KAFKA_BROKERS, REDIS_URL: url });
    const stack = await ensureStack(conf, quiet, root);
    try {
      expect(stack.started.kafka).toBeUndefined();
      expect(stack.started.redis?.url).toBe(ports.map((p) => `redis://127.0.0.1:${p}`).join(","));
      for (const port of ports) expect(await askNode(port, "CLUSTER", "INFO")).toContain("cluster_state:ok");
      // The roles' own connection takes the same REDIS_URL as a cluster and writes through it.
      const redis = connectRedis(url, undefined, {}); // a cluster without ACL users: no user
      const keys = Array.from({ length: 10 }, (_, i) => `stack-test:${i}`);
      for (const key of keys) await redis.set(key, key);
      expect(await Promise.all(keys.map((k) => redis.get(k)))).toEqual(keys);
      redis.disconnect();
      // Now that it answers, the next call uses it and starts nothing.
      const again = await ensureStack(conf, quiet, root);
      expect(again.started.redis).toBeUndefined();
      expect(again.started.kafka).toBeUndefined();
    } finally {
      await stack.stop();
      rmSync(root, { recursive: true, force: true });
    }
    for (const port of ports) expect(await portAnswers("127.0.0.1", port)).toBe(false);
  }, 60_000);

  test("a cluster of which only some local ports answer is one line, for Redis and for Kafka, and nothing is started", async () => {
    const silent = freePort();
    const redisPartly = loadConfig({ KAFKA_BROKERS: config.KAFKA_BROKERS, REDIS_URL: `${config.REDIS_URL},redis://127.0.0.1:${silent}` });
    await expect(ensureStack(redisPartly, quiet)).rejects.toThrow(
      /^redis: only 127\.0\.0\.1:\d+ of the 2 named answers: not a whole cluster; start all of it \(`bun run infra --cluster`\)/,
    );
    const kafkaPartly = loadConfig({ KAFKA_BROKERS: `${config.KAFKA_BROKERS},localhost:${silent}`, REDIS_URL: config.REDIS_URL });
    await expect(ensureStack(kafkaPartly, quiet)).rejects.toThrow(/^kafka: only localhost:\d+ of the 2 named answers: not a whole cluster/);
    expect(await portAnswers("127.0.0.1", silent)).toBe(false);
  });

  test("a 3-broker KRaft cluster on one host elects a controller, replicates, and stops", async () => {
    const root = mkdtempSync(join(tmpdir(), "btc-cluster-"));
    const ports = [freePort(), freePort(), freePort()];
    const cluster = await startKafka({ ports, dataDir: root, log: quiet, heap: "384m" });
    try {
      expect(cluster.brokers).toBe(ports.map((p) => `localhost:${p}`).join(","));
      const { Kafka, logLevel } = await import("kafkajs");
      const admin = new Kafka({ brokers: cluster.brokers.split(","), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const described = await admin.describeCluster();
      expect(described.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
      await admin.createTopics({ topics: [{ topic: "replicated", numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
      const meta = await admin.fetchTopicMetadata({ topics: ["replicated"] });
      for (const partition of meta.topics[0]?.partitions ?? []) expect(partition.replicas.length).toBe(3);
      await admin.disconnect();
    } finally {
      await cluster.stop();
      rmSync(root, { recursive: true, force: true });
    }
    for (const node of cluster.nodes) {
      expect(alive(node.child.proc.pid)).toBe(false);
      expect(await portAnswers("localhost", node.port)).toBe(false);
    }
  }, 120_000);

  test("a missing redis-server is one line saying what to install", () => {
    const proc = Bun.spawnSync([process.execPath, "tools/infra/main.ts"], {
      env: { ...process.env, PATH: "/nonexistent", REDIS_URL: `redis://localhost:${freePort()}` },
      stderr: "pipe",
    });
    expect(proc.exitCode).toBe(1);
    // Every decision is said first (Redis, then Kafka), then what failed.
    expect(proc.stderr.toString()).toMatch(/^redis: nothing answers[^\n]*\nkafka: using [^\n]*\nredis-server not found: install it \(Debian: apt-get install redis-server\)/);
  });
});
