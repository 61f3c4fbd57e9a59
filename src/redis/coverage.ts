/**
 * The typed call of lua/advanceCoverage-3.lua: what a projection holds of one partition
 * (src/domain/coverage.ts), written by the partition's consumer while its position is the one
 * the consumer expects. Read back by src/redis/read.ts `groupProgress`.
 */
import type { Config } from "../domain/config.ts";
import type { ProjectionSpec } from "../domain/projection.ts";
import type { Shard } from "../domain/shards.ts";
import { positionKey, replayKey, versionKey } from "./keys.ts";
import type { ScriptCall } from "./scripts.ts";

/** The last record a consumer applied: on resume, the record at its offset must still be this one (same log). */
export interface Marker {
  offset: number;
  stampMs: number;
  key: string;
}

/** As stored: JSON `{"offset", "stamp_ms", "key"}`, readable in redis-cli. */
export const markerText = (m: Marker) => JSON.stringify({ offset: m.offset, stamp_ms: m.stampMs, key: m.key });

export function parseMarker(text: string | null | undefined): Marker | null {
  try {
    const m = JSON.parse(text ?? "") as { offset?: unknown; stamp_ms?: unknown; key?: unknown };
    const marker = { offset: Number(m.offset), stampMs: Number(m.stamp_ms), key: String(m.key ?? "") };
    return Number.isInteger(marker.offset) && marker.offset >= 0 && Number.isFinite(marker.stampMs) ? marker : null;
  } catch {
    return null;
  }
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

/** lua/advanceCoverage-3.lua; true when written (Redis still held the expected position). */
export function advanceCoverage(
  config: Pick<Config, "REDIS_PREFIX">,
  spec: Pick<ProjectionSpec, "namespace">,
  shard: Shard,
  field: string,
  u: CoverageUpdate,
): ScriptCall<boolean> {
  return {
    name: "advanceCoverage",
    keys: [positionKey(config, spec, shard), replayKey(config, spec, shard), versionKey(config, spec, shard)],
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
