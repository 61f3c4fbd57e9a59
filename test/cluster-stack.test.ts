/**
 * The local cluster of `bun run infra --cluster`: three KRaft brokers whose topics default to
 * replication factor 3 and min.insync.replicas 2, and a Redis Cluster of three masters with a
 * replica each. One cluster for the whole file, started once, stopped by the last test.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Cluster } from "ioredis";
import { type Admin, ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { type LocalKafka, startKafkaCluster } from "../tools/infra/kafka.ts";
import { portAnswers } from "../tools/infra/process.ts";
import { askNode, type LocalRedisCluster, parseClusterNodes, startRedisCluster } from "../tools/infra/redis-cluster.ts";

setDefaultTimeout(60_000);

let kafka: LocalKafka;
let redis: LocalRedisCluster;
let admin: Admin;

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const clusterClient = () =>
  new Cluster(
    redis.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
    { clusterRetryStrategy: (times) => (times > 20 ? null : 200), redisOptions: { connectTimeout: 2000 } },
  );

/** The port of the master that serves `key`. */
async function ownerPort(client: Cluster, key: string): Promise<number | undefined> {
  const slot = Number(await client.cluster("KEYSLOT", key));
  const ranges = await client.cluster("SLOTS");
  return ranges.find(([from, to]) => from <= slot && slot <= to)?.[2]?.[1];
}

beforeAll(async () => {
  const started = await Promise.allSettled([startKafkaCluster({ heap: "384m", log: () => {} }), startRedisCluster({ nodeTimeoutMs: 2000 })]);
  const [k, r] = started;
  if (k.status === "fulfilled") kafka = k.value;
  if (r.status === "fulfilled") redis = r.value;
  const failure = started.find((s) => s.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
  admin = new Kafka({ clientId: "cluster-stack-test", brokers: kafka.brokers.split(","), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
}, 120_000);

afterAll(async () => {
  await admin?.disconnect();
  await Promise.all([kafka?.stop(), redis?.stop()]);
});

describe("kafka cluster", () => {
  test("three brokers are in the metadata, with a controller", async () => {
    const described = await admin.describeCluster();
    expect(described.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
    expect([1, 2, 3]).toContain(described.controller as number);
  });

  test("a topic created without a replication factor gets 3 replicas and min.insync.replicas 2", async () => {
    const topic = "cluster-defaults";
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = meta.topics[0]?.partitions ?? [];
    expect(partitions.length).toBe(3);
    for (const partition of partitions) expect(partition.replicas.length).toBe(3);
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["min.insync.replicas"] }],
      includeSynonyms: false,
    });
    const entry = described.resources[0]?.configEntries.find((e) => e.configName === "min.insync.replicas");
    expect(entry?.configValue).toBe("2");
  });

  test("a broker killed with SIGKILL is gone, and started again it is back in the metadata", async () => {
    const node = kafka.nodes[2];
    if (!node) throw new Error("no third node");
    const pid = node.child.proc.pid;
    await kafka.killNode(node.nodeId);
    expect(alive(pid)).toBe(false);
    await kafka.startNode(node.nodeId);
    expect(alive(node.child.proc.pid)).toBe(true);
    // Back in the metadata and in sync again on every partition of the topic above.
    const deadline = Date.now() + 45_000;
    let ids: number[] = [];
    let isr: number[] = [];
    while (Date.now() < deadline) {
      ids = (await admin.describeCluster()).brokers.map((b) => b.nodeId).sort();
      const meta = await admin.fetchTopicMetadata({ topics: ["cluster-defaults"] });
      isr = (meta.topics[0]?.partitions ?? []).map((p) => p.isr.length);
      if (ids.length === 3 && isr.length === 3 && isr.every((n) => n === 3)) break;
      await Bun.sleep(250);
    }
    expect(ids).toEqual([1, 2, 3]);
    expect(isr).toEqual([3, 3, 3]);
  });
});

describe("redis cluster", () => {
  test("every node says cluster_state:ok, and there are 3 masters with a replica each", async () => {
    for (const node of redis.nodes) expect(await askNode(node.port, "CLUSTER", "INFO")).toContain("cluster_state:ok");
    const views = parseClusterNodes(await askNode(redis.nodes[0]?.port as number, "CLUSTER", "NODES"));
    const masters = views.filter((v) => v.flags.includes("master"));
    const replicas = views.filter((v) => v.flags.includes("slave"));
    expect(masters.length).toBe(3);
    expect(replicas.length).toBe(3);
    expect(masters.reduce((sum, m) => sum + m.slots, 0)).toBe(16384);
    // One replica per master.
    expect(replicas.map((r) => r.masterId).sort()).toEqual(masters.map((m) => m.id).sort());
    expect(redis.masters().length).toBe(3);
    expect(redis.replicas().length).toBe(3);
  });

  test("keys written through an ioredis Cluster client are read back", async () => {
    const client = clusterClient();
    try {
      const keys = Array.from({ length: 20 }, (_, i) => `cluster-stack:${i}`);
      for (const key of keys) await client.set(key, key.toUpperCase());
      for (const key of keys) expect(await client.get(key)).toBe(key.toUpperCase());
      // The keys spread over more than one master.
      expect(new Set(await Promise.all(keys.map((k) => ownerPort(client, k)))).size).toBeGreaterThan(1);
    } finally {
      client.disconnect();
    }
  });

  test("a master killed with SIGKILL is replaced by its replica; started again it comes back as a replica", async () => {
    const client = clusterClient();
    try {
      const key = "cluster-stack:failover";
      await client.set(key, "kept");
      // The master that holds the key dies, once its replica has the write.
      const port = await ownerPort(client, key);
      const master = redis.nodes.find((n) => n.port === port);
      if (!master) throw new Error(`no node serves ${key}`);
      expect(master.role).toBe("master");
      expect(Number(await askNode(master.port, "WAIT", "1", "5000"))).toBe(1);
      const pid = master.pid;
      expect(alive(pid)).toBe(true);
      await master.kill();
      expect(alive(pid)).toBe(false);
      await redis.waitUntilOk(30_000);
      expect(redis.masters().length).toBe(3);
      expect(await client.get(key)).toBe("kept");
      await master.start();
      await redis.waitUntilOk(30_000);
      expect(master.role).toBe("replica");
      expect(redis.replicas().length).toBe(3);
    } finally {
      client.disconnect();
    }
  });
});

test("stopping leaves no broker and no redis-server of it running", async () => {
  const kafkaPids = kafka.nodes.map((n) => n.child.proc.pid);
  const redisPids = redis.nodes.map((n) => n.pid);
  for (const pid of [...kafkaPids, ...redisPids]) expect(alive(pid)).toBe(true);
  await admin.disconnect();
  await Promise.all([kafka.stop(), redis.stop()]);
  for (const pid of [...kafkaPids, ...redisPids]) expect(alive(pid)).toBe(false);
  for (const node of kafka.nodes) expect(await portAnswers("localhost", node.port)).toBe(false);
  for (const node of redis.nodes) expect(await portAnswers("127.0.0.1", node.port)).toBe(false);
});
