/**
 * `bun run consumer:counts`: consumer group btc-minute-counts: transactions and value per event minute and hour.
 * Any number of processes may run; Kafka shares the partitions between them.
 */
import { configOrExit } from "../config.ts";
import { countsGroup } from "../consumers/counts.ts";
import { runConsumerRole } from "../consumers/runner.ts";

await runConsumerRole(configOrExit(), countsGroup);
