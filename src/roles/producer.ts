/**
 * `bun run producer`: the blockchain.com feed (FEED_URL), validated, into Kafka (TOPIC).
 * See src/producer/producer.ts.
 */
import { configOrExit } from "../domain/config.ts";
import { createLogger } from "../domain/log.ts";
import { onShutdown } from "../domain/shutdown.ts";
import { startProducer } from "../producer/producer.ts";
import { connectRedis } from "../redis/connection.ts";
import { exitUnlessRedisFits } from "../redis/requirements.ts";

const config = configOrExit();
const log = createLogger("producer", config);
// The producer keeps only its counters in Redis and reads its clock there (TIME), but runs against the same server as every role.
const probe = connectRedis(config.REDIS_URL);
await exitUnlessRedisFits(probe, (line) => log.warn(line));
probe.disconnect();
const producer = startProducer({ config, log });
onShutdown(log, producer.stop);
log.info("producer started", { feed: config.FEED_URL, brokers: config.KAFKA_BROKERS, topic: config.TOPIC, partitioner: config.PARTITIONER });
