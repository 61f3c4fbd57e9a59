/**
 * `bun run consumer:addresses`: consumer group btc-address-values: value received and sent per address over the last 3 hours.
 * Any number of processes may run; Kafka shares the partitions between them.
 */

import { addressesGroup } from "../consumers/addresses.ts";
import { runConsumerRole } from "../consumers/runner.ts";
import { configOrExit } from "../domain/config.ts";

await runConsumerRole(configOrExit(), addressesGroup);
