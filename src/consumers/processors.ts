/**
 * The processor of every consumer group of the registry (src/domain/groups.ts), by role: what
 * `bun run consumer <role>` runs. `satisfies` makes the type checker ask for an entry per role.
 */
import type { Config } from "../domain/config.ts";
import type { GroupRole } from "../domain/groups.ts";
import { addressShards, type Shard, WHOLE } from "../domain/shards.ts";
import { addressesGroup } from "./addresses.ts";
import { countsGroup } from "./counts.ts";
import type { GroupProcessor } from "./group.ts";
import { transactionsGroup } from "./transactions.ts";

/** Makes a group's processor from the configuration (for the address group, of one of its shards). */
export type MakeProcessor = (config: Config, shard: Shard) => GroupProcessor;

export const PROCESSORS = {
  counts: countsGroup,
  addresses: addressesGroup,
  transactions: transactionsGroup,
} satisfies Record<GroupRole, MakeProcessor>;

/** What one process of `role` runs: the group's processor, or one per shard of the address projection (ADDRESS_SHARDS). */
export const processorsOf = (role: GroupRole, config: Config): GroupProcessor[] =>
  (role === "addresses" ? addressShards(config) : [WHOLE]).map((shard) => (PROCESSORS[role] as MakeProcessor)(config, shard));
