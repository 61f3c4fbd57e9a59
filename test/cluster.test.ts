/**
 * The pipeline on a Kafka cluster and a Redis Cluster, as `bun run infra --cluster` starts them:
 * three KRaft brokers whose topics default to replication factor 3 and min.insync.replicas 2,
 * and three Redis masters with a replica each (cluster-node-timeout 2 s here). The roles reach
 * the Redis Cluster through REDIS_URL listing its seeds, and the address projection is spread
 * over three shards (ADDRESS_SHARDS=3), one per master. One cluster and one running pipeline for
 * the file: its shape first, then the pipeline end to end, then a broker and a master lost during
 * ingestion, each ending with what the API serves (the top 100 addresses on both sides among it)
 * equal to the independent computation (test/helpers/expected.ts). Last, on the same cluster,
 * `bun run demo` given only the variables `bun run infra --cluster` prints (no --cluster flag).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import { type Admin, ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../src/domain/config.ts";
import { addressShards } from "../src/domain/shards.ts";
import { consumerGroups, groupId } from "../src/kafka/client.ts";
import { addrTotalKey } from "../src/projections/addresses/keys.ts";
import { spec as addresses } from "../src/projections/addresses/spec.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { metricsKey, positionKey } from "../src/redis/keys.ts";
import { type LocalCluster, startLocalCluster } from "../tools/infra/cluster.ts";
import { freePort, portAnswers } from "../tools/infra/process.ts";
import { askNode, parseClusterNodes } from "../tools/infra/redis-cluster.ts";
import { alive as demoProcessAlive, descendants, startDemo } from "./helpers/demo.ts";
import { bounded, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(180_000);

/** The plain cluster has no ACL users: no process logs in as one (not the test process's, not the roles'). */
const NO_USER = { REDIS_USERNAME: "", REDIS_PASSWORD: "", REDIS_PASSWORD_FILE: "", BTC_REDIS_USERS_DIR: "" };

const root = mkdtempSync(join(tmpdir(), "cluster-"));
let cluster: LocalCluster;
let admin: Admin;
let p: Pipeline;
/** The test's view of Redis, through the same connection factory the roles use (a Cluster client). */
let redisView: Redis;
/** The demo of the last test, killed after the file if a failure left it running. */
let demoProc: Subprocess | undefined;
/** Each fault survived, with its figures (printed at the end, quoted in the README). */
const survived: { fault: string; transactions: number; lost: number; twice: number }[] = [];

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The port of the master that serves `key`, asked of the cluster itself. */
async function ownerPort(key: string): Promise<number | undefined> {
  const client = redisView as unknown as Cluster;
  const slot = Number(await client.cluster("KEYSLOT", key));
  const ranges = await client.cluster("SLOTS");
  return ranges.find(([from, to]) => from <= slot && slot <= to)?.[2]?.[1];
}

const metric = async (name: string) => Number((await redisView.hget(metricsKey(p.env.config), name)) ?? 0);

async function exact(fault: string) {
  const result = await p.settle();
  // The producer never dropped a transaction: it held what Kafka could not take yet.
  expect(await metric("producer_dropped_total")).toBe(0);
  survived.push({ fault, ...result });
}

beforeAll(async () => {
  cluster = await startLocalCluster({
    kafkaPorts: [freePort(), freePort(), freePort()],
    redisPorts: Array.from({ length: 6 }, () => freePort()),
    dataDir: root,
    fresh: true,
    nodeTimeoutMs: 2_000,
    heap: "384m",
    log: () => {},
  });
  const env = { ...cluster.env, ...NO_USER, LOG_LEVEL: "warn", ADDRESS_SHARDS: "3" };
  const config = loadConfig(env);
  const kafka = new Kafka({ clientId: "cluster-test", brokers: config.KAFKA_BROKERS.split(","), logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  redisView = connectRedis(config.REDIS_URL, undefined, {});
  // The plain cluster has no ACL users (secure-redis-cluster.test.ts runs the roles' users on one).
  p = new Pipeline({ config, env, kafka }, "cluster", null);
  await p.feed({ rate: 100, seed: 31 });
  p.spawnAll();
}, 180_000);

afterAll(async () => {
  if (demoProc?.exitCode === null && demoProc.signalCode === null) demoProc.kill("SIGKILL");
  await bounded("stopping the pipeline", () => p?.stop(), 40_000);
  redisView?.disconnect();
  await bounded("disconnecting the admin", () => admin?.disconnect(), 10_000);
  await bounded("stopping the cluster", () => cluster?.stop(), 40_000);
  rmSync(root, { recursive: true, force: true });
  for (const s of survived) console.log(`cluster: ${s.fault}: ${s.transactions} transactions so far, lost ${s.lost}, counted twice ${s.twice}`);
});

describe("the clusters", () => {
  test("three brokers are in the metadata, with a controller", async () => {
    const described = await admin.describeCluster();
    expect(described.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
    expect([1, 2, 3]).toContain(described.controller as number);
  });

  test("the service's topic has 3 replicas on every partition, and min.insync.replicas 2", async () => {
    const topic = p.env.config.TOPIC;
    await waitFor("the producer's topic", async () => (await admin.listTopics()).includes(topic), 60_000);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = meta.topics[0]?.partitions ?? [];
    expect(partitions.length).toBe(3);
    for (const partition of partitions) expect(partition.replicas.length).toBe(3);
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["min.insync.replicas"] }],
      includeSynonyms: false,
    });
    expect(described.resources[0]?.configEntries.find((e) => e.configName === "min.insync.replicas")?.configValue).toBe("2");
  });

  test("every Redis node says cluster_state:ok, and there are 3 masters with a replica each", async () => {
    for (const node of cluster.redis.nodes) expect(await askNode(node.port, "CLUSTER", "INFO")).toContain("cluster_state:ok");
    const views = parseClusterNodes(await askNode(cluster.redis.nodes[0]?.port as number, "CLUSTER", "NODES"));
    const masters = views.filter((v) => v.flags.includes("master"));
    const replicas = views.filter((v) => v.flags.includes("slave"));
    expect(masters.length).toBe(3);
    expect(replicas.length).toBe(3);
    expect(masters.reduce((sum, m) => sum + m.slots, 0)).toBe(16384);
    expect(replicas.map((r) => r.masterId).sort()).toEqual(masters.map((m) => m.id).sort());
  });

  test("keys written through the service's own connection (REDIS_URL with six seeds) land on several masters", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `cluster-test:${i}`);
    for (const key of keys) await redisView.set(key, key.toUpperCase());
    for (const key of keys) expect(await redisView.get(key)).toBe(key.toUpperCase());
    expect(new Set(await Promise.all(keys.map((k) => ownerPort(k)))).size).toBeGreaterThan(1);
    for (const key of keys) await redisView.del(key);
  });
});

describe("the pipeline on the clusters", () => {
  test("end to end: the API serves exactly the independent computation", async () => {
    await waitFor("100 frames delivered", () => p.frames.length > 100, 90_000);
    await exact("end to end");
  });

  test("the address projection's three shards live on the three masters, each with addresses of its own", async () => {
    const shards = addressShards(p.env.config);
    expect(shards.length).toBe(3);
    const owners = new Set<number | undefined>();
    for (const shard of shards) {
      owners.add(await ownerPort(addrTotalKey(p.env.config, "received", shard)));
      expect(await redisView.zcard(addrTotalKey(p.env.config, "received", shard))).toBeGreaterThan(0);
    }
    expect(owners.size).toBe(3);
    // Three Kafka groups, one per shard, each with its member.
    const groups = consumerGroups(p.env.config, PROJECTIONS).filter((g) => g.role === addresses.role);
    expect(groups.map((g) => g.group)).toEqual(shards.map((shard) => groupId(p.env.config, addresses, shard)));
    const described = await admin.describeGroups(groups.map((g) => g.group));
    for (const group of described.groups) expect(group.members.length).toBe(1);
  });

  test("a Kafka broker SIGKILLed during ingestion and started again: the producer keeps publishing, nothing lost or counted twice", async () => {
    const node = cluster.kafka.nodes[1];
    if (!node) throw new Error("no second broker");
    const pid = node.child.proc.pid;
    await cluster.kafka.killNode(node.nodeId);
    expect(alive(pid)).toBe(false);
    const before = await metric("producer_published_total");
    // Two of three replicas stay in sync: acks=all writes go on (min.insync.replicas 2).
    await waitFor("the producer publishing with a broker down", async () => (await metric("producer_published_total")) > before + 200, 60_000);
    await cluster.kafka.startNode(node.nodeId);
    await exact("a Kafka broker SIGKILLed and restarted");
  });

  test("the Redis master holding the projections SIGKILLed: its replica takes over and the figures end exact", async () => {
    // Every key of the namespace carries its hash tag: one slot, one master, that of every
    // projection not spread over shards.
    const whole = PROJECTIONS.filter((s) => !s.sharded);
    expect(whole.length).toBeGreaterThan(0);
    const ports = new Set(await Promise.all(whole.map((s) => ownerPort(positionKey(p.env.config, s)))));
    expect(ports.size).toBe(1);
    const port = await ownerPort(metricsKey(p.env.config));
    expect(ports.has(port)).toBe(true);
    const master = cluster.redis.nodes.find((n) => n.port === port);
    if (!master) throw new Error("no node serves the projections");
    expect(master.role).toBe("master");
    const pid = master.pid;
    await master.kill();
    expect(alive(pid)).toBe(false);
    // Writes the old master acknowledged but had not passed on are gone with it; the consumers
    // find positions behind their own on the promoted replica and replay from there.
    await cluster.redis.waitUntilOk(60_000);
    expect(cluster.redis.masters().length).toBe(3);
    await master.start();
    await cluster.redis.waitUntilOk(60_000);
    expect(master.role).toBe("replica");
    await exact("the Redis master of the projections SIGKILLed");
  });
});

describe("bun run demo given only the variables infra prints", () => {
  test("KAFKA_BROKERS, REDIS_URL with six seeds and TOPIC_REPLICATION, no --cluster: it uses the cluster, its projections agree, and SIGTERM leaves the cluster alone and nothing else running", async () => {
    // The fault tests are done: their pipeline would only share the two cores with the demo's.
    await bounded("stopping the pipeline", () => p.stop(), 40_000);
    // About 7 addresses a transaction: all of them fit in one /high_value_addr answer (limit 1000).
    const TRANSACTIONS = 80;
    const port = freePort();
    const api = `http://localhost:${port}`;
    // Its own namespace on the cluster; the Kafka and Redis it uses come from cluster.env alone.
    const vars = { ...cluster.env, ...NO_USER, TOPIC: "demo-vars", GROUP_PREFIX: "demo-vars-", REDIS_PREFIX: "demo-vars" };
    const demo = startDemo({ ...vars, PORT: String(port) }, "cluster-demo", ["--rate", "50", "--count", String(TRANSACTIONS)]);
    demoProc = demo.proc;
    try {
      await waitFor("the demo to start its roles", () => demo.lines.some((l) => l.startsWith("demo: running ")) || demo.proc.exitCode !== null, 60_000);
      expect(demo.proc.exitCode).toBeNull();
      // It found the cluster where the variables point and started nothing.
      const seeds = cluster.redis.nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
      expect(demo.lines.filter((l) => /^(redis|kafka): /.test(l))).toEqual([`redis: using the Redis Cluster at ${seeds}`, `kafka: using ${cluster.env.KAFKA_BROKERS}`]);

      type Tx = { hash: string; outputs: { address: string | null; value: number }[] };
      const listed = await waitFor(
        `/show_transactions/ to list all ${TRANSACTIONS} transactions`,
        async () => {
          const res = await fetch(`${api}/show_transactions/?limit=1000`).catch(() => undefined);
          const body = res?.status === 200 ? ((await res.json()) as { transactions: Tx[] }) : undefined;
          return body?.transactions.length === TRANSACTIONS ? body.transactions : undefined;
        },
        90_000,
      );
      expect(new Set(listed.map((t) => t.hash)).size).toBe(TRANSACTIONS);
      // TOPIC_REPLICATION reached the producer, which created the topic.
      const meta = await admin.fetchTopicMetadata({ topics: [vars.TOPIC] });
      for (const partition of meta.topics[0]?.partitions ?? []) expect(partition.replicas.length).toBe(3);

      // The counts projection holds every one of them once.
      await waitFor(
        `/transactions_count_per_hour to total ${TRANSACTIONS}`,
        async () => {
          const body = (await (await fetch(`${api}/transactions_count_per_hour`)).json()) as { hours: { count: number }[] };
          return body.hours.reduce((sum, h) => sum + h.count, 0) === TRANSACTIONS;
        },
        60_000,
      );
      // The address projection's totals equal the outputs of the listed transactions, address by address.
      const received = new Map<string, number>();
      for (const tx of listed) for (const out of tx.outputs) if (out.address && out.value > 0) received.set(out.address, (received.get(out.address) ?? 0) + out.value);
      expect(received.size).toBeLessThan(1000);
      const served = await waitFor(
        "/high_value_addr to hold every listed output",
        async () => {
          const body = (await (await fetch(`${api}/high_value_addr?limit=1000`)).json()) as { addresses: { address: string; total_value: number }[] };
          const totals = new Map(body.addresses.filter((a) => a.total_value > 0).map((a) => [a.address, a.total_value]));
          return totals.size === received.size ? totals : undefined;
        },
        60_000,
      );
      expect(Object.fromEntries(served)).toEqual(Object.fromEntries(received));
    } finally {
      // SIGTERM: exit code 0, every process of the demo gone, the cluster it did not start left running.
      const below = descendants(demo.proc.pid);
      demo.proc.kill("SIGTERM");
      expect(await demo.proc.exited).toBe(0);
      await demo.done;
      await waitFor("every process of the demo to be gone", () => below.every((d) => !demoProcessAlive(d)), 10_000).catch(() => {});
      expect(below.filter(demoProcessAlive)).toEqual([]);
    }
    for (const node of cluster.redis.nodes) expect(await portAnswers("127.0.0.1", node.port)).toBe(true);
    for (const node of cluster.kafka.nodes) expect(await portAnswers("localhost", node.port)).toBe(true);
  }, 240_000);
});

test("stopping leaves no broker and no redis-server of it running", async () => {
  await bounded("stopping the pipeline", () => p.stop(), 40_000);
  const kafkaPids = cluster.kafka.nodes.map((n) => n.child.proc.pid);
  const redisPids = cluster.redis.nodes.map((n) => n.pid);
  for (const pid of [...kafkaPids, ...redisPids]) expect(alive(pid)).toBe(true);
  redisView.disconnect();
  await admin.disconnect();
  await cluster.stop();
  for (const pid of [...kafkaPids, ...redisPids]) expect(alive(pid)).toBe(false);
  for (const node of cluster.kafka.nodes) expect(await portAnswers("localhost", node.port)).toBe(false);
  for (const node of cluster.redis.nodes) expect(await portAnswers("127.0.0.1", node.port)).toBe(false);
});
