/**
 * `bun run infra`: the local Kafka and Redis, until Ctrl-C / SIGTERM.
 */
import { configOrExit } from "../../src/domain/config.ts";
import { MissingToolError } from "./kafka.ts";
import { ensureStack } from "./stack.ts";

const config = configOrExit();
try {
  const stack = await ensureStack(config);
  console.log(`KAFKA_BROKERS=${stack.kafkaBrokers}`);
  console.log(`REDIS_URL=${stack.redisUrl}`);
  console.log("infra: ready; Ctrl-C stops what it started");
  let stopping = false;
  const shutdown = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.error("infra: stopping...");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  // Stay alive while the children run.
  setInterval(() => {}, 1 << 30);
} catch (err) {
  console.error(err instanceof MissingToolError ? err.message : String(err instanceof Error ? err.message : err));
  process.exit(1);
}
