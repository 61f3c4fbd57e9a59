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
  const root = opts.dataDir ?? join(CACHE_DIR, "cluster");
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

/**
 * The local cluster for `bun run demo --cluster`: the one a running `bun run infra --cluster`
 * serves on the default ports, or a new one started here (stopped by `stop()`).
 */
export async function ensureLocalCluster(log = (l: string) => console.error(l)): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const ports = [...DEFAULT_CLUSTER_KAFKA_PORTS, ...DEFAULT_CLUSTER_REDIS_PORTS];
  const taken = await busy(ports);
  if (taken.length === ports.length) {
    log("cluster: using the one answering on the default ports (bun run infra --cluster)");
    return {
      env: {
        KAFKA_BROKERS: DEFAULT_CLUSTER_KAFKA_PORTS.map((p) => `localhost:${p}`).join(","),
        REDIS_URL: DEFAULT_CLUSTER_REDIS_PORTS.map((p) => `redis://127.0.0.1:${p}`).join(","),
        TOPIC_REPLICATION: "3",
      },
      stop: async () => {},
    };
  }
  const cluster = await startLocalCluster({ log });
  return { env: cluster.env, stop: () => cluster.stop() };
}
