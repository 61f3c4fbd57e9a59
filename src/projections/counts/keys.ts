/** The keys of the counts projection (docs: ./README.md), inside its namespace. */
import type { Config } from "../../domain/config.ts";
import { groupPrefix } from "../../redis/keys.ts";
import { spec } from "./spec.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** `<prefix><minute start, unix s>` is a HASH {count, value} with a TTL. */
export const countsMinutePrefix = (config: Prefixed) => `${groupPrefix(config, spec)}minute:`;
export const countsMinuteKey = (config: Prefixed, minuteSec: number) => `${countsMinutePrefix(config)}${minuteSec}`;
/** `<prefix><hour start, unix s>` is a HASH {count, value} with a TTL. */
export const countsHourPrefix = (config: Prefixed) => `${groupPrefix(config, spec)}hour:`;
export const countsHourKey = (config: Prefixed, hourSec: number) => `${countsHourPrefix(config)}${hourSec}`;
