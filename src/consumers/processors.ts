/**
 * The processor of every consumer group of the registry (src/domain/groups.ts), by role: what
 * `bun run consumer <role>` runs. `satisfies` makes the type checker ask for an entry per role.
 */
import type { Config } from "../domain/config.ts";
import type { GroupRole } from "../domain/groups.ts";
import { addressesGroup } from "./addresses.ts";
import { countsGroup } from "./counts.ts";
import type { GroupProcessor } from "./group.ts";
import { transactionsGroup } from "./transactions.ts";

/** Makes a group's processor from the configuration. */
export type MakeProcessor = (config: Config) => GroupProcessor;

export const PROCESSORS = {
  counts: countsGroup,
  addresses: addressesGroup,
  transactions: transactionsGroup,
} satisfies Record<GroupRole, MakeProcessor>;
