/**
 * The local cluster of `bun run infra --cluster`: three Kafka brokers (KRaft, each broker and
 * controller; topics replicated 3 times, min.insync.replicas 2) and a Redis Cluster of three
 * masters with a replica each. Both keep their data under one folder, as the single-node stack does.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type LocalKafka, startKafkaCluster } from "./kafka.ts";
import { CACHE_DIR, portAnswers } from "./process.ts";
import { type LocalRedisCluster, startRedisCluster } from "./redis-cluster.ts";

export const DEFAULT_CLUSTER_KAFKA_PORTS = [9092, 9093, 9094];
export const DEFAULT_CLUSTER_REDIS_PORTS = [7001, 7002, 7003, 7004, 7005, 7006];
/** Where the cluster keeps its data: `bun run infra --cluster`'s, and one started for the variables (tools/infra/stack.ts). */
export const CLUSTER_DATA_DIR = join(CACHE_DIR, "cluster");

/** What `bun run infra --cluster` prints on its default ports; `bun run demo --cluster` is `bun run demo` with these. */
export const DEFAULT_CLUSTER_ENV: Readonly<Record<string, string>> = {
  KAFKA_BROKERS: DEFAULT_CLUSTER_KAFKA_PORTS.map((p) => `localhost:${p}`).join(","),
  REDIS_URL: DEFAULT_CLUSTER_REDIS_PORTS.map((p) => `redis://127.0.0.1:${p}`).join(","),
  TOPIC_REPLICATION: "3",
};

export interface StartLocalClusterOptions {
  kafkaPorts?: number[];
  redisPorts?: number[];
  /** Data of both; default `.cache/cluster` (kept between runs). */
  dataDir?: string;
  /** Remove the data first: a new, empty cluster. */
  fresh?: boolean;
  /** Redis `cluster-node-timeout`; default 5000. */
  nodeTimeoutMs?: number;
  /** JVM heap per broker; default 512m. */
  heap?: string;
  log?: (line: string) => void;
}

export interface LocalCluster {
  kafka: LocalKafka;
  redis: LocalRedisCluster;
  /** What a role needs to use it: KAFKA_BROKERS, REDIS_URL (several seeds: a cluster), TOPIC_REPLICATION. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Ports of `ports` where something answers already. */
async function busy(ports: readonly number[]): Promise<number[]> {
  const answers = await Promise.all(ports.map((p) => portAnswers("127.0.0.1", p, 300)));
  return ports.filter((_, i) => answers[i]);
}

export async function startLocalCluster(opts: StartLocalClusterOptions = {}): Promise<LocalCluster> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const kafkaPorts = opts.kafkaPorts ?? DEFAULT_CLUSTER_KAFKA_PORTS;
  const redisPorts = opts.redisPorts ?? DEFAULT_CLUSTER_REDIS_PORTS;
  const root = opts.dataDir ?? CLUSTER_DATA_DIR;
  const taken = await busy([...kafkaPorts, ...redisPorts]);
  if (taken.length) throw new Error(`infra: port ${taken.join(", ")} ${taken.length > 1 ? "are" : "is"} in use (another \`bun run infra\`?); stop it first`);
  if (opts.fresh) rmSync(root, { recursive: true, force: true });

  log(`kafka: starting 3 brokers on ports ${kafkaPorts.join(",")}; redis: starting a cluster on ports ${redisPorts.join(",")} (data in ${root})`);
  const [kafka, redis] = await Promise.allSettled([
    startKafkaCluster({ ports: kafkaPorts, dataDir: join(root, "kafka"), heap: opts.heap ?? "512m", log }),
    startRedisCluster({ ports: redisPorts, dataDir: join(root, "redis"), nodeTimeoutMs: opts.nodeTimeoutMs, log }),
  ]);
  if (kafka.status === "rejected" || redis.status === "rejected") {
    await Promise.all([kafka.status === "fulfilled" && kafka.value.stop(), redis.status === "fulfilled" && redis.value.stop()]);
    throw kafka.status === "rejected" ? kafka.reason : (redis as PromiseRejectedResult).reason;
  }
  return {
    kafka: kafka.value,
    redis: redis.value,
    env: {
      KAFKA_BROKERS: kafka.value.brokers,
      // Several comma-separated seeds: the roles connect to a Redis Cluster (src/redis/connection.ts).
      REDIS_URL: redis.value.url,
      // The service names the replication factor when it creates its topic (default 1).
      TOPIC_REPLICATION: "3",
    },
    async stop() {
      await Promise.all([kafka.value.stop(), redis.value.stop()]);
    },
  };
}
