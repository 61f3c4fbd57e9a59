/**
 * `bun run api`: the REST API and the Swagger playground on PORT.
 *
 * Wires the dependencies (Redis, one Kafka admin connection for /health, the registry of
 * projections whose routes it mounts), listens, and on
 * SIGTERM / Ctrl-C stops accepting requests, lets those in flight finish, and disconnects.
 */
import { createApp } from "../api/app.ts";
import { KafkaProbe } from "../api/health/kafka.ts";
import { configOrExit } from "../domain/config.ts";
import { createLogger } from "../domain/log.ts";
import { onShutdown } from "../domain/shutdown.ts";
import { consumerGroups, createKafka } from "../kafka/client.ts";
import { PROJECTIONS } from "../projections/registry.ts";
import { redisClock } from "../redis/clock.ts";
import { connectRedis } from "../redis/connection.ts";
import { exitUnlessRedisFits } from "../redis/requirements.ts";

const config = configOrExit();
const log = createLogger("api", config);

const redis = connectRedis(config.REDIS_URL);
await exitUnlessRedisFits(redis, (line) => log.warn(line));
const admin = createKafka(config, "btc-api", log).admin({ retry: { retries: 1, initialRetryTime: 200 } });
const kafka = new KafkaProbe(admin, config.TOPIC, consumerGroups(config, PROJECTIONS));
// The topic's partitions are known before the first answer is judged complete or not.
void kafka.check();

// "Now" is Redis's clock, the one the consumers' scripts use, whatever this host's clock says.
const clock = redisClock(redis);
const app = createApp({ config, redis, kafka, log, projections: PROJECTIONS, now: clock.now }).listen({ port: config.PORT, hostname: "0.0.0.0" });
log.info(`listening on http://localhost:${config.PORT} (Swagger: http://localhost:${config.PORT}/swagger)`);

onShutdown(log, async () => {
  await app.stop();
  clock.stop();
  await kafka.close();
  redis.disconnect();
});
