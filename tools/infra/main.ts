/**
 * `bun run infra`: the local Kafka and Redis, until Ctrl-C / SIGTERM.
 * `bun run infra --cluster [--fresh]`: three Kafka brokers and a Redis Cluster (tools/infra/cluster.ts)
 * instead; `--fresh` drops the cluster's data of earlier runs first.
 * `bun run infra --secure`: a SASL_SSL Kafka and a TLS Redis with one ACL user per role
 * (tools/infra/secure-stack.ts), on the ports of KAFKA_BROKERS and REDIS_URL when set (else 9095
 * and 6380); prints the variables every role takes, then each role's own Redis user.
 */
import { parseArgs } from "node:util";
import { configOrExit } from "../../src/domain/config.ts";
import { startLocalCluster } from "./cluster.ts";
import { MissingToolError } from "./kafka.ts";
import { secureStackPorts, startSecureStack } from "./secure-stack.ts";
import { ensureStack } from "./stack.ts";

let args: { cluster?: boolean; fresh?: boolean; secure?: boolean };
try {
  args = parseArgs({ options: { cluster: { type: "boolean" }, fresh: { type: "boolean" }, secure: { type: "boolean" } } }).values;
  if (args.fresh && !args.cluster) throw new Error("--fresh goes with --cluster");
  if (args.secure && args.cluster) throw new Error("--secure and --cluster do not go together");
} catch (err) {
  console.error(`infra: ${err instanceof Error ? err.message : err}; usage: bun run infra [--cluster [--fresh] | --secure]`);
  process.exit(2);
}

try {
  let stop: () => Promise<void>;
  if (args.cluster) {
    const cluster = await startLocalCluster({ fresh: args.fresh });
    for (const [name, value] of Object.entries(cluster.env)) console.log(`${name}=${value}`);
    stop = cluster.stop;
  } else if (args.secure) {
    // Only REDIS_PREFIX is read here (the ACL users' keys): the other variables may name files
    // that this very command makes.
    const secure = await startSecureStack({ ...secureStackPorts(process.env), prefix: configOrExit({ REDIS_PREFIX: process.env.REDIS_PREFIX }).REDIS_PREFIX });
    for (const [name, value] of Object.entries(secure.env)) console.log(`${name}=${value}`);
    console.log("# and each role its own Redis user, beside the variables above:");
    for (const user of secure.users) {
      const own = secure.roleEnv(user.role);
      console.log(`#   ${user.role}: REDIS_USERNAME=${own.REDIS_USERNAME} REDIS_PASSWORD_FILE=${own.REDIS_PASSWORD_FILE}`);
    }
    stop = secure.stop;
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
