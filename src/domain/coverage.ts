/**
 * Exact or flagged: whether a projection holds every record the log has for a span of event
 * time. Pure; the facts come from Redis (src/redis/read.ts `groupProgress`), written there by the
 * consumers (src/consumers/positions.ts, lua/advanceCoverage-3.lua).
 *
 * Per partition of the topic, a projection keeps (times are Kafka record timestamps, which the
 * producer takes from Redis's clock, unix ms):
 *   - `coversFromMs`: the projection holds every record of the partition stamped at or after it
 *     (0: from the log's first record). Set from the log actually read: the replay's start by
 *     timestamp, or the first record the log still held.
 *   - `throughMs`: and every record stamped before it. A consumer level with the log moves it to
 *     "now" about every second; during a replay it follows the replay's last applied record. It
 *     stops moving when the partition's consumer stops.
 *   - `gaps`: stamps [from, to) of records the log lost before the group read them (a position
 *     below the log start); kept until they leave the group's keep.
 *
 * A record's event time (its transaction's `time`) is at most `FUTURE_SLACK_MS` after its stamp
 * (the producer counts a transaction stamped further ahead at its arrival) and, for a record that
 * is not late, at most `LATENESS_MS` before it. So the records of a span [from, to) of event time
 * are stamped within [from - FUTURE_SLACK_MS, to + LATENESS_MS), and a span is complete when on
 * every partition that stretch of stamps is covered, has been passed, and crosses no gap. A span
 * still open (to in the future) needs every partition level with the log within LATENESS_MS.
 */
import { MAX_FUTURE_SECONDS } from "./window.ts";

/**
 * L, the lateness the answers allow: a record in flight (sent, not yet applied) or stamped this
 * long after its event time may be missing from a figure that says complete. Well above the
 * pipeline's p99 (tens of ms) and the consumers' one-second refresh of `throughMs`.
 */
export const LATENESS_MS = 5_000;
/**
 * How far a record's event time may be ahead of its stamp: the producer's future-time limit, so
 * spans are checked from this far before their start.
 */
export const FUTURE_SLACK_MS = MAX_FUTURE_SECONDS * 1000;

/**
 * A producer holding transactions Kafka has not acknowledged (an outage) says since when, about
 * every second (src/producer/producer.ts); a report older than this is from a producer that is
 * gone, and what it held never reaches the log.
 */
export const HELD_REPORT_STALE_MS = 5_000;

/** Why an answer is not final, in the same words on every endpoint. */
export const INCOMPLETE_REASONS = ["replaying", "log_gap", "behind"] as const;
export type IncompleteReason = (typeof INCOMPLETE_REASONS)[number];

/** What a projection holds of one partition (of one shard). Nulls: not known yet. */
export interface PartitionCoverage {
  /** Next offset the projection will apply; null when Redis holds none (a replay is starting). */
  position: number | null;
  /** The log's end when the projection's replay started: the partition is replaying below it. */
  replayUntil: number | null;
  coversFromMs: number | null;
  throughMs: number | null;
  gaps: readonly (readonly [number, number])[];
}

export type Completeness = { complete: true } | { complete: false; reason: IncompleteReason };

export const COMPLETE: Completeness = { complete: true };

/** Why one partition does not hold every record of stamps [fromMs, toMs); null when it does. */
function partitionGap(p: PartitionCoverage, fromMs: number, toMs: number, nowMs: number): IncompleteReason | null {
  if (p.position === null || p.coversFromMs === null || p.throughMs === null) return "replaying";
  if (p.gaps.some(([gapFrom, gapTo]) => gapFrom < toMs && gapTo > fromMs)) return "log_gap";
  if (p.coversFromMs > fromMs) return "log_gap";
  if (p.throughMs < Math.min(toMs, nowMs - LATENESS_MS)) return p.replayUntil !== null && p.position < p.replayUntil ? "replaying" : "behind";
  return null;
}

/**
 * What the producers' reports say at a moment (src/redis/keys.ts producerHeldKey, `heldAt`).
 *
 * A transaction held through an outage reaches the log late, stamped when it is sent: after the
 * spans its event time belongs to were covered. So each span a producer held longer than
 * LATENESS_MS stays reported after Kafka took it (`flushed`), and an answer that can hold its
 * transactions is `behind` until the projection's coverage of every partition has passed the
 * moment Kafka took them: until the projection has applied them, however long that takes.
 */
export interface Held {
  /** Since when a producer holds transactions Kafka has not acknowledged; null when none does. */
  sinceMs: number | null;
  /** Spans held longer than LATENESS_MS that Kafka has taken: [held since, taken by then]. */
  flushed: readonly (readonly [number, number])[];
}

export const NOTHING_HELD: Held = { sinceMs: null, flushed: [] };

/**
 * Whether a projection holds every record of event times [fromMs, toMs) that the log held
 * LATENESS_MS before `nowMs`, over `partitions` (every partition of the topic, of every shard the
 * figure merges; a missing one is replaying). The first reason found, in the order of
 * INCOMPLETE_REASONS, names it. `held`: what the producers hold or held (`Held`); transactions
 * held longer than LATENESS_MS are no longer "in flight", and a span that can hold them (it ends
 * after they arrived) is behind until the projection has them.
 */
export function spanCompleteness(partitions: readonly (PartitionCoverage | undefined)[], fromMs: number, toMs: number, nowMs: number, held: Held = NOTHING_HELD): Completeness {
  const canHold = (sinceMs: number) => toMs + LATENESS_MS > sinceMs;
  const passed = (atMs: number) => partitions.every((p) => p?.throughMs != null && p.throughMs >= atMs);
  const heldLong = held.sinceMs !== null && held.sinceMs < nowMs - LATENESS_MS && canHold(held.sinceMs);
  let worst: IncompleteReason | null = heldLong || held.flushed.some(([since, at]) => canHold(since) && !passed(at)) ? "behind" : null;
  for (const p of partitions) {
    const reason = p ? partitionGap(p, fromMs - FUTURE_SLACK_MS, toMs + LATENESS_MS, nowMs) : "replaying";
    if (reason && (worst === null || INCOMPLETE_REASONS.indexOf(reason) < INCOMPLETE_REASONS.indexOf(worst))) worst = reason;
  }
  return worst === null ? COMPLETE : { complete: false, reason: worst };
}

/**
 * A producer's report (src/redis/keys.ts producerHeldKey), on Redis's clock: what it holds now
 * (`writtenMs`, rewritten every HELD_REPORT_MS while it holds), or a span it held longer than
 * LATENESS_MS that Kafka has taken (`flushedMs`), kept FLUSHED_REPORT_KEEP_MS.
 */
export type HeldReport = { heldSinceMs: number; writtenMs: number } | { heldSinceMs: number; flushedMs: number };

/**
 * How long a flushed span stays reported: longer than any projection keeps a span (counts keep
 * their hours 25 h), so no answer can still hold its transactions after it goes.
 */
export const FLUSHED_REPORT_KEEP_MS = 26 * 3_600_000;

/** What the reports say at `nowMs`: the oldest of the fresh reports of what is held, and every flushed span. */
export function heldAt(reports: readonly HeldReport[], nowMs: number): Held {
  let sinceMs: number | null = null;
  const flushed: [number, number][] = [];
  for (const r of reports) {
    if ("flushedMs" in r) flushed.push([r.heldSinceMs, r.flushedMs]);
    else if (r.writtenMs >= nowMs - HELD_REPORT_STALE_MS) sinceMs = sinceMs === null ? r.heldSinceMs : Math.min(sinceMs, r.heldSinceMs);
  }
  return { sinceMs, flushed };
}

/**
 * The stamp before which the fresh reports vouch that every record is in the log, at `nowMs`:
 * each producer stamps what it has not had acknowledged, and anything it stamps later, at or after
 * its report's `heldSinceMs` (src/producer/producer.ts). A consumer's sample of the log's end at
 * T vouches only for the stamps before the earlier of T and this (src/consumers/positions.ts): a
 * record stamped before T but still on its way would otherwise be missing from a span the
 * coverage calls applied. Null when no producer reports (none runs, or every report is stale).
 */
export function stampedBefore(reports: readonly HeldReport[], nowMs: number): number | null {
  let before: number | null = null;
  for (const r of reports) if (!("flushedMs" in r) && r.writtenMs >= nowMs - HELD_REPORT_STALE_MS) before = Math.min(before ?? r.heldSinceMs, r.heldSinceMs);
  return before;
}
