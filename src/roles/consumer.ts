/**
 * `bun run consumer <role>`: one process of a consumer group of the registry
 * (src/projections/registry.ts), running its projection's processor (src/consumers/group.ts), one
 * per shard of a sharded projection. Any number of processes of a group may run; Kafka shares the
 * partitions between them. A missing or unknown role exits 2 with one line listing the roles.
 */
import { processorsOf } from "../consumers/group.ts";
import { runConsumerRole } from "../consumers/runner.ts";
import { configOrExit } from "../domain/config.ts";
import type { Projection } from "../projections/projection.ts";
import { projectionOf, ROLES } from "../projections/registry.ts";

/** Runs one process of `projection`'s group until SIGTERM / Ctrl-C. */
export async function runConsumer(projection: Projection): Promise<void> {
  const config = configOrExit();
  await runConsumerRole(config, processorsOf(projection, config));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const [role] = args;
  const projection = projectionOf(role);
  if (args.length !== 1 || !projection) {
    const got = args.length === 0 ? "no role given" : args.length > 1 ? `one role expected, got ${JSON.stringify(args)}` : `unknown role ${JSON.stringify(role)}`;
    console.error(`consumer: ${got}; usage: bun run consumer <role>, the roles: ${ROLES.join(", ")}`);
    process.exit(2);
  }
  await runConsumer(projection);
}
