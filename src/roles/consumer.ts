/**
 * `bun run consumer <role>` (or `bun run consumer:<role>`): one process of a consumer group of
 * the registry (src/domain/groups.ts: counts, addresses, transactions), running the group's
 * processor (src/consumers/processors.ts). Any number of processes of a group may run; Kafka shares
 * the partitions between them. A missing or unknown role exits 2 with one line listing the roles.
 */
import { processorsOf } from "../consumers/processors.ts";
import { runConsumerRole } from "../consumers/runner.ts";
import { configOrExit } from "../domain/config.ts";
import { type GroupRole, isGroupRole, ROLES } from "../domain/groups.ts";

/** Runs one process of `role`'s group until SIGTERM / Ctrl-C. */
export async function runConsumer(role: GroupRole): Promise<void> {
  const config = configOrExit();
  await runConsumerRole(config, processorsOf(role, config));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const [role] = args;
  if (args.length !== 1 || !isGroupRole(role)) {
    const got = args.length === 0 ? "no role given" : args.length > 1 ? `one role expected, got ${JSON.stringify(args)}` : `unknown role ${JSON.stringify(role)}`;
    console.error(`consumer: ${got}; usage: bun run consumer <role>, the roles: ${ROLES.join(", ")}`);
    process.exit(2);
  }
  await runConsumer(role);
}
