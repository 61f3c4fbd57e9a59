/** The keys of the address projection, or of one of its shards (docs: ./README.md). */
import type { Config } from "../../domain/config.ts";
import { type Shard, WHOLE } from "../../domain/shards.ts";
import { groupPrefix } from "../../redis/keys.ts";
import { spec } from "./spec.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** The two sides of an address's value: paid to it by outputs, spent by its inputs. */
export const SIDES = ["received", "sent"] as const;
export type Side = (typeof SIDES)[number];

export function addressKeys(config: Prefixed, shard: Shard = WHOLE) {
  const at = groupPrefix(config, spec, shard);
  return {
    /** ZSET address -> satoshi over the window, per side: the union of the minute sets. */
    total: (side: Side) => `${at}${side}`,
    /** `<prefix><minute>` is a ZSET address -> satoshi of that minute, per side. */
    minutePrefix: (side: Side) => `${at}${side}:`,
    /** ZSET minute -> minute: the minutes that have sets not yet subtracted. */
    minutes: `${at}minutes`,
    /** STRING: the first minute (unix s) of the window; every minute before it has been subtracted. */
    window: `${at}window`,
  };
}
export const addrTotalKey = (config: Prefixed, side: Side, shard: Shard = WHOLE) => addressKeys(config, shard).total(side);
export const addrMinuteKey = (config: Prefixed, side: Side, minuteSec: number, shard: Shard = WHOLE) => `${addressKeys(config, shard).minutePrefix(side)}${minuteSec}`;
export const addrWindowKey = (config: Prefixed, shard: Shard = WHOLE) => addressKeys(config, shard).window;

/** The window's keys, in the order the scripts take them. */
export const windowKeys = (config: Prefixed, shard: Shard) => {
  const k = addressKeys(config, shard);
  return [k.total("received"), k.total("sent"), k.minutes, k.window, k.minutePrefix("received"), k.minutePrefix("sent")];
};
