/**
 * The typed call of lua/advanceCoverage-2.lua: what a projection holds of one partition
 * (src/domain/coverage.ts), written by the partition's consumer while its position is the one
 * the consumer expects. Read back by src/redis/read.ts `groupProgress`.
 */
import type { Config } from "../domain/config.ts";
import type { Shard } from "../domain/shards.ts";
import { positionKey, replayKey, type StateRole } from "./keys.ts";
import type { ScriptCall } from "./scripts.ts";

/** The last record a consumer applied: on resume, the record at its offset must still be this one (same log). */
export interface Marker {
  offset: number;
  stampMs: number;
  key: string;
}

/** As stored: "<offset> <stamp ms> <key>", readable in redis-cli. */
export const markerText = (m: Marker) => `${m.offset} ${m.stampMs} ${m.key}`;

export function parseMarker(text: string | null | undefined): Marker | null {
  const [offset, stampMs, ...key] = (text ?? "").split(" ");
  const m = { offset: Number(offset), stampMs: Number(stampMs), key: key.join(" ") };
  return Number.isInteger(m.offset) && m.offset >= 0 && Number.isFinite(m.stampMs) && text ? m : null;
}

export interface CoverageUpdate {
  /** The position the consumer expects Redis to hold; nothing is written otherwise. */
  expected: string;
  /** Moves the position past records the log no longer holds. */
  newPosition?: string;
  throughMs?: number;
  coversFromMs?: number;
  /** Sets the gap starting at `fromMs` to end at `toMs` (adds it when new). */
  gap?: { fromMs: number; toMs: number };
  /** Gaps ending before this are forgotten (out of the group's keep). */
  forgetGapsBeforeMs?: number;
  marker?: Marker;
  clearError?: boolean;
}

const opt = (v: number | string | undefined) => (v === undefined ? "" : v);

/** lua/advanceCoverage-2.lua; true when written (Redis still held the expected position). */
export function advanceCoverage(config: Pick<Config, "REDIS_PREFIX">, role: StateRole, shard: Shard, field: string, u: CoverageUpdate): ScriptCall<boolean> {
  return {
    name: "advanceCoverage",
    keys: [positionKey(config, role, shard), replayKey(config, role, shard)],
    args: [
      field,
      u.expected,
      opt(u.newPosition),
      opt(u.throughMs),
      opt(u.coversFromMs),
      opt(u.gap?.fromMs),
      opt(u.gap?.toMs),
      opt(u.forgetGapsBeforeMs),
      u.marker ? markerText(u.marker) : "",
      u.clearError ? "1" : "",
    ],
    parse: (reply) => Number(reply) === 1,
  };
}
