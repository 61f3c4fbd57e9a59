/**
 * The local stack: use the Kafka and Redis that KAFKA_BROKERS and REDIS_URL name when they
 * answer; when one names a localhost port where nothing answers, start it there.
 */
import type { Config } from "../../src/domain/config.ts";
import { brokerList } from "../../src/domain/config.ts";
import { type LocalKafka, startKafka } from "./kafka.ts";
import { isLocalHost, portAnswers } from "./process.ts";
import { type LocalRedis, pingRedis, startRedis } from "./redis.ts";

export interface Stack {
  readonly kafkaBrokers: string;
  readonly redisUrl: string;
  /** What this call started (the rest was already running). */
  readonly started: { kafka?: LocalKafka; redis?: LocalRedis };
  /** Stops what this call started; leaves alone what it found running. */
  stop(): Promise<void>;
}

function hostPort(hostAndPort: string): { host: string; port: number } {
  const i = hostAndPort.lastIndexOf(":");
  return { host: hostAndPort.slice(0, i), port: Number(hostAndPort.slice(i + 1)) };
}

export async function ensureStack(config: Pick<Config, "KAFKA_BROKERS" | "REDIS_URL">, log = (l: string) => console.error(l)): Promise<Stack> {
  const started: { kafka?: LocalKafka; redis?: LocalRedis } = {};
  const stop = async () => {
    await Promise.all([started.kafka?.stop(), started.redis?.stop()]);
  };
  try {
    const redisUrl = new URL(config.REDIS_URL);
    const redisPort = Number(redisUrl.port || 6379);
    if (!(await pingRedis(config.REDIS_URL))) {
      if (!isLocalHost(redisUrl.hostname)) throw new Error(`redis: nothing answers at ${config.REDIS_URL}, and it is not on this machine`);
      log(`redis: nothing answers at ${config.REDIS_URL}; starting redis-server on port ${redisPort}`);
      // It keeps its data (AOF, under .cache/redis-data/<port>), as Kafka keeps its log.
      started.redis = await startRedis({ port: redisPort, persist: true });
    } else {
      log(`redis: using ${config.REDIS_URL}`);
    }

    const first = hostPort(brokerList(config)[0] as string);
    if (!(await portAnswers(first.host, first.port))) {
      if (!isLocalHost(first.host)) throw new Error(`kafka: nothing answers at ${first.host}:${first.port}, and it is not on this machine`);
      log(`kafka: nothing answers at ${first.host}:${first.port}; starting a local broker there`);
      started.kafka = await startKafka({ ports: [first.port], log });
    } else {
      log(`kafka: using ${config.KAFKA_BROKERS}`);
    }
    return { kafkaBrokers: config.KAFKA_BROKERS, redisUrl: config.REDIS_URL, started, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
