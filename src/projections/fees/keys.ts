/** The keys of the fee projection (docs: ./README.md). */
import type { Config } from "../../domain/config.ts";
import { groupPrefix } from "../../redis/keys.ts";
import { spec } from "./spec.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

/** `<prefix><minute start, unix s>` is a HASH {count, unknown_fee, fee, vsize, min_rate, max_rate, band:<n>...} with a TTL. */
export const feeMinutePrefix = (config: Prefixed) => `${groupPrefix(config, spec)}minute:`;
export const feeMinuteKey = (config: Prefixed, minuteSec: number) => `${feeMinutePrefix(config)}${minuteSec}`;
