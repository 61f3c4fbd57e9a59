/**
 * The local stack: use the Kafka and Redis that KAFKA_BROKERS and REDIS_URL name when they
 * answer; when they name localhost ports where nothing answers, start them there.
 *
 * Several brokers, or several Redis seeds (what `bun run infra --cluster` prints), name a cluster:
 * when none of its ports answers, the local cluster of tools/infra/cluster.ts is started on
 * exactly those ports, with its data in .cache/cluster as `infra --cluster` keeps it. When some
 * of a local cluster's ports answer and others do not, that is one line saying so, not a guess:
 * a single `bun run infra` on 9092 is not the first broker of a cluster.
 */
import { join } from "node:path";
import type { Config } from "../../src/domain/config.ts";
import { brokerList } from "../../src/domain/config.ts";
import { type RedisSecuritySettings, redisSeeds } from "../../src/redis/connection.ts";
import { CLUSTER_DATA_DIR } from "./cluster.ts";
import { type LocalKafka, startKafka, startKafkaCluster } from "./kafka.ts";
import { isLocalHost, portAnswers } from "./process.ts";
import { type LocalRedis, pingRedis, startRedis } from "./redis.ts";
import { type LocalRedisCluster, startRedisCluster } from "./redis-cluster.ts";

export interface Stack {
  readonly kafkaBrokers: string;
  readonly redisUrl: string;
  /** What this call started (the rest was already running). */
  readonly started: { kafka?: LocalKafka; redis?: LocalRedis | LocalRedisCluster };
  /** Stops what this call started; leaves alone what it found running. */
  stop(): Promise<void>;
}

interface Endpoint {
  host: string;
  port: number;
  answers: () => Promise<boolean>;
}

const hostPort = (e: Endpoint) => `${e.host}:${e.port}`;

/** A broker of KAFKA_BROKERS (`host:port`). */
function broker(hostAndPort: string): Endpoint {
  const i = hostAndPort.lastIndexOf(":");
  const host = hostAndPort.slice(0, i);
  const port = Number(hostAndPort.slice(i + 1));
  return { host, port, answers: () => portAnswers(host, port) };
}

/** A seed of REDIS_URL; printed as host:port only, so no password reaches a log. Asked over TLS with `settings`' CA for rediss://. */
function seed(url: string, settings: Partial<RedisSecuritySettings>): Endpoint {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), answers: () => pingRedis(url, settings) };
}

/**
 * "use" when the endpoints answer, "start" when they are all on this machine and none answers;
 * throws one line otherwise. A remote cluster with some nodes down is its operator's business:
 * one answering seed is enough to use it.
 */
async function decide(what: string, endpoints: Endpoint[]): Promise<"use" | "start"> {
  const up = await Promise.all(endpoints.map((e) => e.answers()));
  if (up.every(Boolean)) return "use";
  if (!endpoints.every((e) => isLocalHost(e.host))) {
    if (up.some(Boolean)) return "use";
    throw new Error(`${what}: nothing answers at ${endpoints.map(hostPort).join(",")}, and it is not on this machine`);
  }
  if (!up.some(Boolean)) return "start";
  const answering = endpoints.filter((_, i) => up[i]).map(hostPort);
  const verb = answering.length > 1 ? "answer" : "answers";
  throw new Error(
    `${what}: only ${answering.join(",")} of the ${endpoints.length} named ${verb}: not a whole cluster; start all of it (\`bun run infra --cluster\`), or stop what answers there`,
  );
}

/**
 * Uses or starts what `config` names. `clusterDataDir` is where a cluster started here keeps its
 * data (tests pass a folder of their own).
 */
export async function ensureStack(
  config: Pick<Config, "KAFKA_BROKERS" | "REDIS_URL"> & Partial<RedisSecuritySettings>,
  log = (l: string) => console.error(l),
  clusterDataDir = CLUSTER_DATA_DIR,
): Promise<Stack> {
  // The one reading of REDIS_URL's seeds, the roles' own (src/redis/connection.ts).
  const seeds = redisSeeds(config.REDIS_URL).map((url) => seed(url, config));
  const brokers = brokerList(config).map(broker);
  const [redisAt, kafkaAt] = [seeds, brokers].map((list) => list.map(hostPort).join(","));
  const [redis, kafka] = await Promise.all([decide("redis", seeds), decide("kafka", brokers)]);

  // Every decision is said before anything starts, in the same order each time.
  let startRedisHere: (() => Promise<LocalRedis | LocalRedisCluster>) | undefined;
  const redisPorts = seeds.map((s) => s.port);
  if (redis === "use") {
    log(`redis: using ${seeds.length > 1 ? "the Redis Cluster at " : ""}${redisAt}`);
  } else if (seeds.length === 1) {
    log(`redis: nothing answers at ${redisAt}; starting redis-server on port ${redisPorts[0]}`);
    // It keeps its data (AOF, under .cache/redis-data/<port>), as Kafka keeps its log.
    startRedisHere = () => startRedis({ port: redisPorts[0] as number, persist: true });
  } else {
    const dataDir = join(clusterDataDir, "redis");
    log(`redis: nothing answers at ${redisAt}; starting a Redis Cluster on those ports (data in ${dataDir})`);
    startRedisHere = () => startRedisCluster({ ports: redisPorts, dataDir, log });
  }
  let startKafkaHere: (() => Promise<LocalKafka>) | undefined;
  const kafkaPorts = brokers.map((b) => b.port);
  if (kafka === "use") {
    log(`kafka: using ${kafkaAt}`);
  } else if (brokers.length === 1) {
    log(`kafka: nothing answers at ${kafkaAt}; starting a local broker there`);
    startKafkaHere = () => startKafka({ ports: kafkaPorts, log });
  } else {
    const dataDir = join(clusterDataDir, "kafka");
    log(`kafka: nothing answers at ${kafkaAt}; starting a cluster of brokers on those ports (data in ${dataDir})`);
    startKafkaHere = () => startKafkaCluster({ ports: kafkaPorts, dataDir, heap: "512m", log });
  }

  // Side by side (a cluster takes tens of seconds); when one fails, the other is stopped.
  const [r, k] = await Promise.allSettled([startRedisHere?.(), startKafkaHere?.()]);
  const started = { redis: r.status === "fulfilled" ? r.value : undefined, kafka: k.status === "fulfilled" ? k.value : undefined };
  const stop = async () => {
    await Promise.all([started.kafka?.stop(), started.redis?.stop()]);
  };
  if (r.status === "rejected" || k.status === "rejected") {
    await stop();
    throw r.status === "rejected" ? r.reason : (k as PromiseRejectedResult).reason;
  }
  return { kafkaBrokers: config.KAFKA_BROKERS, redisUrl: config.REDIS_URL, started, stop };
}
