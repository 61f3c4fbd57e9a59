/**
 * `bun run consumer:counts`: consumer group btc-minute-counts: transactions and value per event minute and hour.
 * Any number of processes may run; Kafka shares the partitions between them.
 */

import { countsGroup } from "../consumers/counts.ts";
import { runConsumerRole } from "../consumers/runner.ts";
import { configOrExit } from "../domain/config.ts";

await runConsumerRole(configOrExit(), countsGroup);
