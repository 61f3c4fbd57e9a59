/**
 * Whether an answer's figures are final (issue 17, contract "Exact or flagged"), in the same words
 * on every data endpoint: `complete` and, when false, `incomplete_reason`, in the body (TypeBox,
 * so the OpenAPI document has them) and as the headers `X-Complete` / `X-Incomplete-Reason` (so
 * the text table and the 404 of /transactions/{hash} carry them too).
 *
 * The judgement is src/domain/coverage.ts's; this file picks what it is given: every partition of
 * the topic, of every shard the figure merges, as Redis holds them when the figures are read.
 * A reading takes the coverage before and after its figures (`Coverage.bracket`) and takes the
 * worse judgement: figures only grow while the coverage holds, so the coverage read before is
 * safe, and one that a FLUSHALL, a restored snapshot or a rebuild changed during the reading shows
 * in the reading after. The judgement itself is made at each request's moment (fresh.ts): a
 * reading is kept while the projection writes nothing, and a span it showed complete can turn
 * `behind` as time passes.
 */
import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { type Completeness, INCOMPLETE_REASONS, LATENESS_MS, type PartitionCoverage, type IncompleteReason as Reason, spanCompleteness } from "../domain/coverage.ts";
import type { ProjectionSpec } from "../domain/projection.ts";
import { positionField } from "../redis/keys.ts";
import { type GroupProgress, partitionCoverage } from "../redis/read.ts";
import type { Moment } from "./fresh.ts";
import type { ApiStore } from "./store.ts";

export type { Completeness };

const LATENESS_S = LATENESS_MS / 1000;

export const Complete = Type.Boolean({
  description:
    `true when no transaction the Kafka log held for the figures' span, up to ${LATENESS_S} s before the answer was rendered, is missing ` +
    "from them (a span still open, such as the current hour or the 3-hour window, is complete when it holds everything so far); " +
    "false when some may be missing, and `incomplete_reason` says why. Also sent as the header `X-Complete: true|false`.",
});

export const IncompleteReason = t.UnionEnum(INCOMPLETE_REASONS, {
  description:
    "why `complete` is false (also the header `X-Incomplete-Reason`): " +
    "`replaying`: the projection is being rebuilt from the log (after Redis lost data or `bun run rebuild`) and has not reached this span yet; " +
    "`log_gap`: records of the span left the log before the projection read them (retention, deleted records), so the figures stay a lower bound; " +
    `\`behind\`: a consumer has not applied the log up to ${LATENESS_S} s before now (stopped, stalled or slow). ` +
    "When several apply, the first in this order is named.",
});

/** The two fields, spread into each answer's model. */
export const CompletenessFields = { complete: Complete, incomplete_reason: t.Optional(IncompleteReason) };

/** The fields of an answer: `{ complete: true }` or `{ complete: false, incomplete_reason }`. */
export type Flag = { complete: boolean; incomplete_reason?: Reason };

export const flagOf = (c: Completeness): Flag => (c.complete ? { complete: true } : { complete: false, incomplete_reason: c.reason });

/** The first reason (in the order of INCOMPLETE_REASONS) among several judgements; complete when all are. */
export function worstOf(all: Iterable<Completeness>): Completeness {
  let worst: Completeness = { complete: true };
  for (const c of all) if (!c.complete && (worst.complete || INCOMPLETE_REASONS.indexOf(c.reason) < INCOMPLETE_REASONS.indexOf(worst.reason))) worst = c;
  return worst;
}

/** The response headers of a flag: the same words as the body. */
export function flagHeaders(set: { headers: Record<string, unknown> }, flag: Flag): void {
  set.headers["x-complete"] = String(flag.complete);
  if (flag.incomplete_reason) set.headers["x-incomplete-reason"] = flag.incomplete_reason;
}

/** The headers documented on every data answer (OpenAPI `headers` of a response). */
export const FLAG_HEADERS = {
  "X-Complete": { description: "`true` or `false`: the answer's `complete`", schema: { type: "string", enum: ["true", "false"] } },
  "X-Incomplete-Reason": { description: "when `X-Complete` is false: the answer's `incomplete_reason`", schema: { type: "string", enum: [...INCOMPLETE_REASONS] } },
};

/**
 * What a projection holds of every partition of the topic (0 .. partitions-1, and any other
 * partition of the topic Redis names), for each shard. A partition Redis knows nothing of is
 * replaying.
 */
export function partitionsOf(progresses: readonly GroupProgress[], topic: string, partitions: number): PartitionCoverage[] {
  const out: PartitionCoverage[] = [];
  const ofTopic = new RegExp(`^${topic.replace(/[.]/g, "\\.")}:[0-9]+$`);
  for (const progress of progresses) {
    const fields = new Set(Array.from({ length: partitions }, (_, p) => positionField(topic, p)));
    for (const known of [progress.positions, progress.replayUntil, progress.coversFromMs, progress.throughMs, progress.gaps])
      for (const field of known.keys()) if (ofTopic.test(field)) fields.add(field);
    for (const field of fields) out.push(partitionCoverage(progress, field));
  }
  return out;
}

/** Judges spans of event time [fromMs, toMs) against the coverage one reading took, at a request's moment. */
export type Judge = (fromMs: number, toMs: number) => Completeness;

/** Figures and the coverage read around them: judged at each request's moment (fresh.ts), so an answer turns `behind` on time. */
export interface Bracketed<T> {
  value: T;
  judgeAt(moment: Moment): Judge;
}

/** Reads a projection's coverage around the reading of its figures. */
export class Coverage {
  constructor(
    private readonly store: ApiStore,
    private readonly topic: string,
    /** Partitions of the topic: Kafka's count when the /health probe has seen it, else TOPIC_PARTITIONS. */
    private readonly partitions: () => number,
  ) {}

  private async read(spec: ProjectionSpec): Promise<PartitionCoverage[]> {
    return partitionsOf(await this.store.coverage(spec), this.topic, this.partitions());
  }

  /** Reads the figures between two readings of the coverage; judges by the worse of the two. */
  async bracket<T>(spec: ProjectionSpec, figures: () => Promise<T>): Promise<Bracketed<T>> {
    const before = await this.read(spec);
    const value = await figures();
    const after = await this.read(spec);
    return {
      value,
      judgeAt:
        ({ nowMs, held }) =>
        (fromMs, toMs) =>
          worstOf([spanCompleteness(before, fromMs, toMs, nowMs, held), spanCompleteness(after, fromMs, toMs, nowMs, held)]),
    };
  }
}
