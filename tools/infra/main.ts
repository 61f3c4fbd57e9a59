/**
 * `bun run infra`: the local Kafka and Redis, until Ctrl-C / SIGTERM.
 * `bun run infra --cluster [--fresh]`: three Kafka brokers and a Redis Cluster (tools/infra/cluster.ts)
 * instead; `--fresh` drops the cluster's data of earlier runs first.
 */
import { parseArgs } from "node:util";
import { configOrExit } from "../../src/domain/config.ts";
import { startLocalCluster } from "./cluster.ts";
import { MissingToolError } from "./kafka.ts";
import { ensureStack } from "./stack.ts";

let args: { cluster?: boolean; fresh?: boolean };
try {
  args = parseArgs({ options: { cluster: { type: "boolean" }, fresh: { type: "boolean" } } }).values;
  if (args.fresh && !args.cluster) throw new Error("--fresh goes with --cluster");
} catch (err) {
  console.error(`infra: ${err instanceof Error ? err.message : err}; usage: bun run infra [--cluster [--fresh]]`);
  process.exit(2);
}

try {
  let stop: () => Promise<void>;
  if (args.cluster) {
    const cluster = await startLocalCluster({ fresh: args.fresh });
    for (const [name, value] of Object.entries(cluster.env)) console.log(`${name}=${value}`);
    stop = cluster.stop;
  } else {
    const config = configOrExit();
    const stack = await ensureStack(config);
    console.log(`KAFKA_BROKERS=${stack.kafkaBrokers}`);
    console.log(`REDIS_URL=${stack.redisUrl}`);
    stop = stack.stop;
  }
  console.log("infra: ready; Ctrl-C stops what it started");
  let stoppingSince = 0;
  const shutdown = async () => {
    // Ctrl-C reaches this process twice under `bun run` (from the terminal and forwarded by bun):
    // a second signal soon after the first is that same one; a later one exits at once (the
    // children then get SIGTERM from the kernel, see process.ts).
    if (stoppingSince) {
      if (Date.now() - stoppingSince > 2_000) process.exit(1);
      return;
    }
    stoppingSince = Date.now();
    console.error("infra: stopping...");
    await stop();
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
