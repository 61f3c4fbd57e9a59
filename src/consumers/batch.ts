/**
 * One fetched batch of one partition, end to end:
 *   1. decodes every record; a poison record (not JSON, not a Transaction, unknown schema
 *      version, a time over an hour ahead), or one the projection refuses (its apply's `refuse`),
 *      becomes a dead letter on `<TOPIC>.dlq` (source = the
 *      group id, the reason, the origin topic/partition/offset), sent first;
 *   2. hands the valid transactions to the group's `apply` (one Redis round trip) with the
 *      stretch of offsets the batch covers: the scripts apply it only when the group's position
 *      in Redis is where the batch starts, and move the position with the effects, atomically;
 *   3. resolves the batch's last offset; kafkajs commits it (for lag monitoring and tools).
 *
 * A stretch Redis refuses (its position is another, or none) leaves the batch unresolved and goes
 * to Redis's position (./positions.ts). When Redis (or the dead-letter send) fails, the batch is
 * retried with backoff, heartbeating, until it succeeds, the group rebalances (kafkajs re-fetches)
 * or the consumer stops; nothing is committed meanwhile.
 */
import type { EachBatchPayload, Message } from "kafkajs";
import { backoffStep } from "../domain/backoff.ts";
import { deadLetterMessage } from "../kafka/dlq.ts";
import { positionField, positionKey } from "../redis/keys.ts";
import type { Applied, ApplyResult } from "../redis/scripts.ts";
import type { RunnerContext } from "./context.ts";
import { type Decoded, decodeRecord } from "./decode.ts";
import type { GroupProcessor, LogRecord } from "./group.ts";
import type { Positions } from "./positions.ts";
import { applyRefusing } from "./refusals.ts";

/** An apply refused because a key of the group holds the wrong type. */
class WrongTypeError extends Error {
  constructor(key: string) {
    super(`key ${key} holds the wrong type: remove or fix it (nothing of this batch was written)`);
  }
}

/** A valid transaction the projection refuses (its `refuse`) becomes a dead letter with the projection's reason. */
function refused(decoded: Decoded, group: GroupProcessor): Decoded {
  if (!decoded.ok) return decoded;
  const reason = group.refuse(decoded.tx);
  return reason === null ? decoded : { ok: false, reason: `refused by ${group.spec.role}: ${reason}` };
}

/** Backoff between attempts at a batch Redis did not acknowledge: 100 ms doubling to 5 s. */
const backoffMs = (attempt: number) => backoffStep(attempt - 1, 100, 5_000);

/** The runner's `eachBatch`. */
export function batchHandler(ctx: RunnerContext, positions: Positions): (payload: EachBatchPayload) => Promise<void> {
  const { config, role, redis, clock, metrics, log } = ctx;
  const metric = ctx.metric;

  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    const messages = batch.messages;
    const partition = batch.partition;
    // The offset this fetch asked for (kafkajs keeps it on the batch): the position the stretch starts at.
    const from = String((batch as unknown as { fetchedOffset: string }).fetchedOffset);
    const first = messages[0];
    if (!first) return;
    // Resuming: the group's last applied record must still be in the log where it was (same log).
    const resume = positions.checkResume(partition, { offset: first.offset, timestamp: first.timestamp, key: first.key });
    if (resume === "other_log") {
      await positions
        .otherLog(partition, heartbeat)
        .catch((err) => log.limited(`resync:${role}`, "warn", `${role}: could not drop the projection, will retry`, { partition, error: String(err) }));
      return;
    }
    if (resume === "resync") {
      await positions
        .resync(partition, Number(from))
        .catch((err) => log.limited(`resync:${role}`, "warn", `${role}: could not resume from Redis's position, will retry`, { partition, error: String(err) }));
      return;
    }
    if (resume === "same_log") {
      positions.seekPosition(partition);
      return;
    }
    const last = messages[messages.length - 1];
    if (!last) return;
    const stretch = { field: positionField(batch.topic, partition), from, to: String(Number(last.offset) + 1) };
    const nowSec = clock.now() / 1000;
    const sentBefore = positions.deadLetteredBelow(partition);
    const records: LogRecord[] = [];
    const dead: Message[] = [];
    let skipped = 0;
    for (const m of messages) {
      const decoded = refused(decodeRecord(m.value, nowSec), ctx.group);
      if (decoded.ok) records.push({ tx: decoded.tx, offset: m.offset });
      else if (Number(m.offset) < sentBefore) skipped++;
      else {
        dead.push(deadLetterMessage({ source: ctx.id, reason: decoded.reason, raw: m.value, origin: { topic: batch.topic, partition, offset: m.offset } }));
        log.limited(`dead:${role}`, "warn", `${role}: dead letter: ${decoded.reason}`, { partition, offset: m.offset });
      }
    }

    // Dead letters first: once the position moves past them they are never read again. But only
    // for a stretch Redis will take: one it refuses is read again from elsewhere (a replay), and
    // its dead letters would go twice.
    if (dead.length) {
      try {
        if ((await redis.hget(positionKey(config, ctx.group.spec, ctx.group.shard), stretch.field)) !== stretch.from) {
          await positions.resync(partition, Number(stretch.from));
          return;
        }
      } catch (err) {
        log.limited(`resync:${role}`, "warn", `${role}: could not read the position in Redis, will retry`, { partition, error: String(err) });
        await Bun.sleep(backoffMs(2));
        return;
      }
    }
    let deadSent = dead.length === 0;
    let result: Applied<ApplyResult> | undefined;
    positions.applying(partition, true);
    try {
      for (let attempt = 1; ; attempt++) {
        // Stopping or lost the partition: leave the batch unresolved, it will be redelivered.
        if (!isRunning() || isStale()) return;
        try {
          if (!deadSent) {
            await ctx.deadLetter(dead);
            // Sent: whatever Redis answers next, this stretch's poison records are not sent again.
            positions.deadLettered(partition, Math.max(sentBefore, Number(stretch.to)));
            metrics.inc(metric("dead_letters_total"), dead.length);
            deadSent = true;
          }
          result = await applyRefusing(ctx, records, stretch, batch.topic, partition, positions);
          if (result.status !== "wrong_type") break;
          throw new WrongTypeError(result.key);
        } catch (err) {
          // A key someone wrote by hand: nothing was written; the partition waits, and /health names the key.
          const wrong = err instanceof WrongTypeError ? err.message : /WRONGTYPE/.test(String(err)) ? `a key of the group holds the wrong type (${String(err)})` : undefined;
          if (wrong) await positions.failed(partition, wrong).catch(() => {});
          metrics.inc(metric("retries_total"));
          log.limited(`retry:${role}`, "warn", `${role}: batch not applied (${deadSent ? "Redis" : "dead-letter topic"}), retrying; nothing is committed meanwhile`, {
            partition,
            offset: stretch.from,
            attempt,
            error: String(err),
          });
          await Bun.sleep(backoffMs(attempt));
          await heartbeat();
        }
      }
    } finally {
      positions.applying(partition, false);
    }

    if (result.status !== "applied") {
      // Redis holds another position, or none: go where it is (the batch is left unresolved).
      try {
        await positions.resync(partition, Number(stretch.from));
      } catch (err) {
        log.limited(`resync:${role}`, "warn", `${role}: could not resume from Redis's position, will retry`, { partition, error: String(err) });
        await Bun.sleep(backoffMs(2));
      }
      return;
    }
    positions.applied(partition, stretch.to, Number((messages[0] as Message).timestamp), {
      offset: Number(last.offset),
      stampMs: Number(last.timestamp),
      key: last.key === null ? "" : String(last.key),
    });
    resolveOffset(last.offset);
    metrics.inc(metric("applied_total"), result.applied);
    metrics.inc(metric("duplicates_total"), result.duplicates);
    metrics.inc(metric("stale_total"), result.stale);
    metrics.inc(metric("replay_skipped_dead_letters_total"), skipped);
    metrics.inc(metric("batches_total"));
    metrics.set(metric("last_batch_at_ms"), clock.now());
    await heartbeat();
  };
}
