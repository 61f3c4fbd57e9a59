/**
 * `bun run consumer:transactions`: consumer group btc-transactions: the transactions of the last 3 hours, within TX_CAP.
 * Any number of processes may run; Kafka shares the partitions between them.
 */

import { runConsumerRole } from "../consumers/runner.ts";
import { transactionsGroup } from "../consumers/transactions.ts";
import { configOrExit } from "../domain/config.ts";

await runConsumerRole(configOrExit(), transactionsGroup);
