/**
 * `bun run producer`: the blockchain.com feed (FEED_URL), validated, into Kafka (TOPIC).
 * See src/producer/producer.ts.
 */
import Redis from "ioredis";
import { configOrExit } from "../config.ts";
import { createLogger } from "../log.ts";
import { startProducer } from "../producer/producer.ts";
import { exitUnlessRedisFits } from "../redis/requirements.ts";
import { onShutdown } from "../shutdown.ts";

const config = configOrExit();
const log = createLogger("producer", config);
// The producer keeps only its counters in Redis, but runs against the same server as every role.
const probe = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
probe.on("error", () => {});
await exitUnlessRedisFits(probe, (line) => log.warn(line));
probe.disconnect();
const producer = startProducer({ config, log });
onShutdown(log, producer.stop);
log.info("producer started", { feed: config.FEED_URL, brokers: config.KAFKA_BROKERS, topic: config.TOPIC, partitioner: config.PARTITIONER });
