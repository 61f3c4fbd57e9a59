/**
 * `bun run producer`: the blockchain.com feed (FEED_URL), validated, into Kafka (TOPIC).
 * See src/producer/producer.ts.
 */
import { configOrExit } from "../config.ts";
import { createLogger } from "../log.ts";
import { startProducer } from "../producer/producer.ts";
import { onShutdown } from "../shutdown.ts";

const config = configOrExit();
const log = createLogger("producer", config);
const producer = startProducer({ config, log });
onShutdown(log, producer.stop);
log.info("producer started", { feed: config.FEED_URL, brokers: config.KAFKA_BROKERS, topic: config.TOPIC, partitioner: config.PARTITIONER });
