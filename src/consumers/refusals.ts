/**
 * Records a script refuses: the group's apply, except that a record a script refuses
 * (ScriptError: its input is not what the script accepts) does not block the partition. The batch
 * is then applied record by record, and each refused record is dead-lettered with the script's
 * reason before the position moves past it (an OUT_OF_RANGE record among them: a value above 21
 * million BTC, or a sum Redis could not keep exactly). A refusal that is no record's fault
 * ("moved", "unset", and "wrong_type": a key someone wrote by hand) is passed on as it is, never
 * dead-lettered. Transport errors (connection, timeout, LOADING, BUSY) are thrown: the caller
 * retries them.
 */
import { deadLetterMessage } from "../kafka/dlq.ts";
import { type Applied, type ApplyResult, ScriptError, type Stretch } from "../redis/scripts.ts";
import type { RunnerContext } from "./context.ts";
import type { LogRecord } from "./group.ts";
import type { Positions } from "./positions.ts";

/**
 * `positions` remembers, per partition, below which offset dead letters were sent already: a
 * stretch read again after a resync (its position moved, or was not set yet) does not send a
 * refused record's dead letter twice.
 */
export async function applyRefusing(
  ctx: RunnerContext,
  records: readonly LogRecord[],
  stretch: Stretch,
  origin: string,
  partition: number,
  positions: Pick<Positions, "deadLetteredBelow" | "deadLettered">,
): Promise<Applied<ApplyResult>> {
  const { group, redis, metrics, role } = ctx;
  try {
    return await group.apply(redis, records, stretch);
  } catch (err) {
    if (!(err instanceof ScriptError)) throw err;
  }
  const total: ApplyResult = { applied: 0, duplicates: 0, stale: 0 };
  let from = stretch.from;
  for (const [i, record] of records.entries()) {
    const part = { field: stretch.field, from, to: records[i + 1]?.offset ?? stretch.to };
    let result: Applied<ApplyResult>;
    try {
      result = await group.apply(redis, [record], part);
    } catch (err) {
      if (!(err instanceof ScriptError)) throw err;
      const reason = `refused by ${err.message}`;
      if (Number(record.offset) >= positions.deadLetteredBelow(partition)) {
        await ctx.deadLetter([
          deadLetterMessage({ source: ctx.id, reason, raw: Buffer.from(JSON.stringify(record.tx)), origin: { topic: origin, partition, offset: record.offset } }),
        ]);
        positions.deadLettered(partition, Number(record.offset) + 1);
        metrics.inc(ctx.metric("dead_letters_total"));
        metrics.inc(ctx.metric("script_refusals_total"));
        ctx.log.limited(`refused:${role}`, "warn", `${role}: dead letter: ${reason}`, { partition, offset: record.offset });
      }
      // Past the refused record, with nothing applied.
      result = await group.apply(redis, [], part);
    }
    if (result.status !== "applied") return result;
    total.applied += result.applied;
    total.duplicates += result.duplicates;
    total.stale += result.stale;
    from = part.to;
  }
  return { status: "applied", ...total };
}
