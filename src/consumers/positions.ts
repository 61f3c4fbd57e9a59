/**
 * Where each partition of a consumer reads from, and what the projection holds of it.
 *
 * The position Redis holds is the truth, not Kafka's committed offset. A partition whose position
 * in Redis is not the one this process expects (just assigned, a restored snapshot, a redelivery)
 * is sought to Redis's position; one Redis holds no position for (a new or emptied Redis, a
 * dropped projection) starts a replay into the empty projection, from the first record it can
 * still hold (its spec's `replayLookbackSeconds`).
 *
 * A position outside the log never jams a partition:
 *   - below the log's start (records deleted under it: retention, a group down for longer, a
 *     snapshot older than the log): the partition moves on from the first record the log holds,
 *     and the stamps it lost are recorded as a gap (src/domain/coverage.ts);
 *   - another log (the topic deleted and recreated): beyond the log's end, or the record before
 *     the position is not the last one the group applied (its marker). The group's projection no
 *     longer matches the log: it is dropped and replayed, like `bun run rebuild`.
 *
 * A tick every `POSITION_WATCH_MS` checks the positions (so an emptied Redis heals with no new
 * record and no command typed) and records each partition's coverage: the log's end is sampled,
 * and the projection holds every record the log held at a sample's time once the position has
 * passed that sample's end (`through_ms`). A sample's time is no later than the producers' reports
 * allow (src/domain/coverage.ts `stampedBefore`): a record stamped before it but still on its way to
 * Kafka is not in the log yet. A partition of this process that has records to apply
 * and has not moved for STUCK_EXIT_SECONDS (120 s by default) ends the process (`onStuck`), so a
 * supervisor restarts it.
 */
import type { Admin, Kafka } from "kafkajs";
import type { Config } from "../domain/config.ts";
import { stampedBefore } from "../domain/coverage.ts";
import { beat } from "../domain/heartbeat.ts";
import type { ProjectionSpec } from "../domain/projection.ts";
import { advanceCoverage, type CoverageUpdate, type Marker, parseMarker } from "../redis/coverage.ts";
import { positionField, positionKey, replayKey } from "../redis/keys.ts";
import { producerHeldReports } from "../redis/read.ts";
import { run, runAll, startReplay } from "../redis/scripts.ts";
import type { RunnerContext } from "./context.ts";

/** How often a consumer checks its positions in Redis and records their coverage. */
export const POSITION_WATCH_MS = 1_000;
/** Samples of the log's end kept per partition (about this many seconds of them). */
const SAMPLES = 30;

/**
 * Where a replay of `partition` into an empty projection starts: the first record written within
 * the group's lookback, or the oldest the log still holds; and since when the projection then
 * holds the partition's records (`coversFromMs`, a record stamp): 0 when the log holds the
 * partition from its first record; the lookback's start when the replay starts inside the log
 * (every record before it is stamped earlier); now when the log holds nothing to replay; ""
 * when the log lost its start: the first record read tells (`advanceCoverage`).
 */
export async function replayStart(admin: Admin, config: Config, spec: Pick<ProjectionSpec, "replayLookbackSeconds">, partition: number, nowMs: number) {
  const lookbackMs = spec.replayLookbackSeconds * 1000;
  const [byTime, ends] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(config.TOPIC, nowMs - lookbackMs), admin.fetchTopicOffsets(config.TOPIC)]);
  const end = ends.find((p) => p.partition === partition);
  const low = Number(end?.low ?? 0);
  const high = Number(end?.high ?? 0);
  const from = Math.max(low, Math.min(high, Number(byTime.find((p) => p.partition === partition)?.offset ?? high)));
  const coversFromMs: number | "" = from > low ? nowMs - lookbackMs : low === 0 ? 0 : from === high ? nowMs : "";
  return { from, high, coversFromMs };
}

/** The first record of a fetched batch, as the resume check sees it. */
export interface FirstRecord {
  offset: string;
  timestamp: string;
  key: Buffer | string | null;
}

export interface Positions {
  /** The partitions of this process's last join: each is resumed from Redis's position. */
  assign(partitions: number[]): void;
  /**
   * Brings the partition to the position Redis holds: seeks there (past the log's start when the
   * log lost it; a replay when the log is another), or, when Redis holds none, starts a replay
   * into the empty projection and seeks to its start. `reached` is the offset this process had
   * reached (Kafka's committed offset when it has not read the partition since it was assigned):
   * poison records below it were dead-lettered already.
   */
  resync(partition: number, reached?: number): Promise<void>;
  /**
   * A resumed partition's first batch, which starts at the group's marker (its last applied record,
   * as Redis holds it): "other_log" when the record there is another (the batch must not be
   * applied: the projection is dropped and replayed), "same_log" when it is the same (go on from
   * the position: `seekPosition`), "resync" when the batch does not start at the marker (resync,
   * which seeks there again, or gives up the check when the log no longer holds it), else "ok".
   */
  checkResume(partition: number, first: FirstRecord): "ok" | "same_log" | "other_log" | "resync";
  /** Seeks the partition to the position this process expects (after its marker was checked). */
  seekPosition(partition: number): void;
  /** The projection no longer matches the log: drops it (this shard) and replays. */
  otherLog(partition: number, onCall?: () => Promise<void>): Promise<void>;
  /** A batch of the partition is being applied (`true`) or no longer is (`false`): the tick leaves its position alone meanwhile. */
  applying(partition: number, busy: boolean): void;
  /** A batch of the partition was applied: Redis now holds `to`; its first record's stamp and its last record. */
  applied(partition: number, to: string, firstStampMs: number, last: Marker): void;
  /** The partition cannot be applied for a reason an operator must fix (a key of the wrong type): /health names it. */
  failed(partition: number, error: string): Promise<void>;
  /** The offset below which the partition's poison records were dead-lettered before (a replay skips them). */
  deadLetteredBelow(partition: number): number;
  /** The partition's poison records below `below` are dead-lettered. */
  deadLettered(partition: number, below: number): void;
  /** Starts the tick of every `POSITION_WATCH_MS`. */
  startWatching(): void;
  stopWatching(): void;
  /** Disconnects the admin client (after the consumer: a batch in hand may still resync). */
  close(): Promise<void>;
}

/** What this process knows of one partition since it last resumed it. */
interface Partition {
  /** The position this process expects Redis to hold (the end of its last batch or seek). */
  expected?: string;
  /** The group's marker, when the record there must be read again before going on. */
  check?: Marker;
  /** The log's end when the projection's replay started (Redis's `until`): below it, the partition is replaying. */
  replayUntil?: number;
  /** The first record applied since the resume: its stamp (the replay's covers-from when Redis has none). */
  firstStampMs?: number;
  last?: Marker;
  /** A gap opened when the log lost records under the position: closed at the next record read. */
  gapFromMs?: number;
  gapClosedAtMs?: number;
  /** The log's end (high watermark) sampled at Redis times. */
  samples: { atMs: number; high: number }[];
  /** Monotonic ms of the last move (or of a tick with nothing to apply). */
  movedAt: number;
  /** Batches applied by this process: a resync that saw one applied while it read Redis does not seek. */
  applies: number;
  /** A batch's script calls are under way: Redis's position may be past `expected` until `applied`. */
  applying?: boolean;
  clearError?: boolean;
}

/**
 * The positions of one runner; `seek` moves the Kafka consumer's reading of a partition; `onStuck`
 * is told (once) when a partition of this process cannot move.
 */
export function createPositions(ctx: RunnerContext, kafka: Kafka, seek: (partition: number, offset: string) => void, onStuck?: (why: string) => void): Positions {
  const { config, role, redis, metrics, log, clock } = ctx;
  const { spec, shard } = ctx.group;
  const topic = config.TOPIC;
  const admin = kafka.admin();
  const positions = positionKey(config, spec, shard);
  const replay = replayKey(config, spec, shard);
  let adminConnected: Promise<void> | undefined;
  let watcher: ReturnType<typeof setInterval> | undefined;
  let watching = false;
  let lastTickAt = performance.now();
  /** The partitions this process was assigned at its last join. */
  let assigned: number[] = [];
  const parts = new Map<number, Partition>();
  /** Per partition, offsets below which poison records were dead-lettered before (a replay skips them). */
  const deadLetteredBelow = new Map<number, number>();

  const part = (partition: number): Partition => {
    let p = parts.get(partition);
    if (!p) parts.set(partition, (p = { samples: [], movedAt: performance.now(), applies: 0 }));
    return p;
  };
  /** Forgets what this process knew of the partition's reading (not its samples of the log). */
  const resumed = (partition: number, expected: string, check?: Marker, replayUntil?: number) => {
    const p = part(partition);
    Object.assign(p, { expected, check, replayUntil, firstStampMs: undefined, last: undefined, gapFromMs: undefined, gapClosedAtMs: undefined, movedAt: performance.now() });
  };

  const connectAdmin = async () => {
    adminConnected ??= admin.connect().catch((err) => {
      adminConnected = undefined;
      throw err;
    });
    await adminConnected;
  };

  /** The log's start and end per partition. */
  async function logEnds(): Promise<Map<number, { low: number; high: number }>> {
    await connectAdmin();
    const ends = await admin.fetchTopicOffsets(topic);
    return new Map(ends.map((e) => [e.partition, { low: Number(e.low), high: Number(e.high) }]));
  }

  /** The group's committed offset for the partition (Kafka's), 0 when none. */
  async function committedOffset(partition: number): Promise<number> {
    await connectAdmin();
    const [offsets] = await admin.fetchOffsets({ groupId: ctx.id, topics: [topic] });
    return Math.max(0, Number(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? 0));
  }

  async function resync(partition: number, reached?: number): Promise<void> {
    const field = positionField(topic, partition);
    const applies = part(partition).applies;
    deadLetteredBelow.set(partition, Math.max(deadLetteredBelow.get(partition) ?? 0, reached ?? (await committedOffset(partition))));
    let position = await redis.hget(positions, field);
    let check: Marker | undefined;
    let replayUntil: number | undefined;
    if (position === null) {
      await connectAdmin();
      const start = await replayStart(admin, config, spec, partition, clock.now());
      position = await run(redis, startReplay(config, spec, field, String(start.from), String(start.high), start.coversFromMs, shard));
      replayUntil = start.high;
      metrics.inc(ctx.metric("replays_total"));
      log.info(`${role}: Redis holds no position for partition ${partition}; replaying the log from offset ${position} (${Math.max(0, start.high - Number(position))} records)`);
    } else {
      const end = (await logEnds()).get(partition) ?? { low: 0, high: Number.POSITIVE_INFINITY };
      const at = Number(position);
      if (at > end.high) {
        log.limited(`other-log:${role}:${partition}`, "warn", `${role}: position ${at} of partition ${partition} is beyond the log's end ${end.high}: the topic is another log`);
        return otherLog(partition);
      }
      if (at < end.low) return skipLost(partition, position, end.low);
      const [markerText, until] = await redis.hmget(replay, `${field}:marker`, `${field}:until`);
      const marker = parseMarker(markerText);
      if (until !== null) replayUntil = Number(until);
      // The group's last applied record (written about every second) must still be there: read it
      // again before going on from the position.
      if (marker && marker.offset < at && marker.offset >= end.low) check = marker;
      log.limited(`resume:${role}:${partition}`, "info", `${role}: Redis holds position ${position} for partition ${partition} (this process was at ${reached}); resuming there`);
    }
    // A batch applied meanwhile (the tick's resync racing the partition's batches) moved Redis's
    // position past what was read: seeking back would re-read it, and kafkajs would commit the
    // older offset. The next tick checks the position again.
    if (part(partition).applies !== applies) {
      part(partition).replayUntil = replayUntil;
      return;
    }
    metrics.inc(ctx.metric("seeks_total"));
    resumed(partition, position, check, replayUntil);
    seek(partition, check ? String(check.offset) : position);
  }

  /**
   * The log no longer holds the records from `position` to `low`: moves the position to `low`,
   * recording their stamps as a gap, from what the projection held through to now (narrowed to
   * the first record read next).
   */
  async function skipLost(partition: number, position: string, low: number): Promise<void> {
    const field = positionField(topic, partition);
    const [through, coversFrom] = await redis.hmget(replay, `${field}:through_ms`, `${field}:covers_from_ms`);
    const gapFromMs = Number(through ?? coversFrom ?? 0) || 0;
    const now = clock.now();
    const moved = await run(redis, advanceCoverage(config, spec, shard, field, { expected: position, newPosition: String(low), gap: { fromMs: gapFromMs, toMs: now } }));
    metrics.inc(ctx.metric("log_gaps_total"));
    log.limited(
      `gap:${role}:${partition}`,
      "warn",
      `${role}: the log of partition ${partition} starts at ${low}, past the position ${position}: ${low - Number(position)} records were lost before the group read them; going on from ${low}, and the figures they touch are flagged incomplete`,
    );
    if (!moved) return resync(partition);
    resumed(partition, String(low));
    part(partition).gapFromMs = gapFromMs;
    metrics.inc(ctx.metric("seeks_total"));
    seek(partition, String(low));
  }

  async function otherLog(partition: number, onCall?: () => Promise<void>): Promise<void> {
    metrics.inc(ctx.metric("other_log_total"));
    log.limited(
      `other-log:${role}`,
      "warn",
      `${role}: the log of partition ${partition} is not the one the projection was built from (the topic was recreated?): dropping the projection and replaying it`,
    );
    // The projection's drop: short calls, each atomic, `onCall` between them (the batch's
    // heartbeat, so a long drop keeps the group's membership); the replay starts once they are done.
    await ctx.group.drop(redis, onCall);
    // Every position of the shard is gone: the next tick resumes the other partitions too.
    for (const p of parts.values()) p.expected = undefined;
    return resync(partition);
  }

  /** One tick: the positions (resync where Redis holds another or none), then each partition's coverage. */
  async function tick(): Promise<void> {
    // A tick that hangs (Redis or Kafka never answering) stops the heartbeat.
    if (watching) return;
    beat(`consumer-${role}`);
    if (!assigned.length) return;
    watching = true;
    const t = performance.now();
    // A tick long after the last one (the process was stopped, SIGSTOP): nothing was stuck meanwhile.
    const frozen = t - lastTickAt > 5 * POSITION_WATCH_MS;
    lastTickAt = t;
    try {
      const mine = [...assigned];
      const fields = mine.map((p) => positionField(topic, p));
      const stored = await redis.hmget(positions, ...fields);
      for (const [i, partition] of mine.entries()) {
        // A batch under way moves Redis's position before `applied` knows: not a reason to resync.
        if (parts.get(partition)?.applying) continue;
        const position = stored[i] ?? null;
        const expected = parts.get(partition)?.expected;
        if (position === null || position !== expected) await resync(partition, expected === undefined ? undefined : Number(expected));
      }
      // What the producers report first: a sample vouches for no stamp they may still be sending.
      const before = stampedBefore(await producerHeldReports(redis, config), clock.now());
      const atMs = Math.min(clock.now(), before ?? Number.POSITIVE_INFINITY);
      const ends = await logEnds();
      const calls = [];
      for (const partition of mine) {
        const p = part(partition);
        const high = ends.get(partition)?.high;
        if (p.expected === undefined || high === undefined) continue;
        p.samples.push({ atMs, high });
        if (p.samples.length > SAMPLES) p.samples.shift();
        const at = Number(p.expected);
        if (frozen || at >= high) p.movedAt = t;
        else if (t - p.movedAt > config.STUCK_EXIT_SECONDS * 1000) {
          onStuck?.(`${role}: partition ${partition} has ${high - at} records to apply and its position ${at} has not moved for ${config.STUCK_EXIT_SECONDS} s`);
        }
        calls.push(advanceCoverage(config, spec, shard, positionField(topic, partition), coverageOf(p, atMs)));
      }
      await runAll(redis, calls);
    } catch (err) {
      log.limited(`watch:${role}`, "warn", `${role}: could not check the positions in Redis, will retry`, { error: String(err) });
    } finally {
      watching = false;
    }
  }

  /** What this process can say of a partition's coverage now. */
  function coverageOf(p: Partition, nowMs: number): CoverageUpdate {
    const at = Number(p.expected);
    // The projection holds every record the log held at a sample whose end the position has passed,
    // and, in a replay, every record up to the last one applied: the log is in the order of its
    // stamps when one producer wrote it (one request at a time). Not past the replay: two
    // producers sending at once (one replacing the other) interleave, and a record applied does
    // not vouch for one stamped before it that is still on its way.
    let through = p.replayUntil !== undefined && at < p.replayUntil ? p.last?.stampMs : undefined;
    for (const s of p.samples) if (s.high <= at && (through === undefined || s.atMs > through)) through = s.atMs;
    const update: CoverageUpdate = { expected: String(p.expected), forgetGapsBeforeMs: nowMs - spec.replayLookbackSeconds * 1000 };
    if (through !== undefined) update.throughMs = through;
    if (p.firstStampMs !== undefined) update.coversFromMs = p.firstStampMs;
    if (p.gapFromMs !== undefined && p.gapClosedAtMs !== undefined) update.gap = { fromMs: p.gapFromMs, toMs: p.gapClosedAtMs };
    if (p.last && p.last.offset === at - 1) update.marker = p.last;
    if (p.clearError) {
      update.clearError = true;
      p.clearError = false;
    }
    return update;
  }

  return {
    assign(partitions) {
      assigned = partitions;
      for (const p of parts.values()) p.expected = undefined;
      void tick();
    },
    resync,
    otherLog,
    seekPosition(partition) {
      const expected = parts.get(partition)?.expected;
      if (expected !== undefined) seek(partition, expected);
    },
    checkResume(partition, first) {
      const p = part(partition);
      const check = p.check;
      if (!check) return "ok";
      // Read from elsewhere (a fetch begun before the seek): read the record before the position first.
      if (Number(first.offset) !== check.offset) return "resync";
      p.check = undefined;
      const key = first.key === null ? "" : String(first.key);
      return Number(first.timestamp) === check.stampMs && key === check.key ? "same_log" : "other_log";
    },
    applying(partition, busy) {
      part(partition).applying = busy;
    },
    applied(partition, to, firstStampMs, last) {
      const p = part(partition);
      p.expected = to;
      p.check = undefined;
      p.firstStampMs ??= firstStampMs;
      if (p.gapFromMs !== undefined) p.gapClosedAtMs ??= firstStampMs;
      p.last = last;
      p.movedAt = performance.now();
      p.clearError = true;
      p.applies++;
    },
    async failed(partition, error) {
      await redis.hset(replay, `${positionField(topic, partition)}:error`, error);
    },
    deadLetteredBelow: (partition) => deadLetteredBelow.get(partition) ?? 0,
    deadLettered: (partition, below) => void deadLetteredBelow.set(partition, below),
    startWatching() {
      lastTickAt = performance.now();
      watcher = setInterval(tick, POSITION_WATCH_MS);
    },
    stopWatching: () => clearInterval(watcher),
    async close() {
      if (adminConnected) await admin.disconnect().catch(() => {});
    },
  };
}
