/**
 * Where each partition of a consumer reads from: the position Redis holds, which is the truth,
 * not Kafka's committed offset. A partition whose position in Redis is not the one this process
 * expects (just assigned, a restored snapshot, a redelivery) is sought to Redis's position; one
 * Redis holds no position for (a new or emptied Redis, a dropped projection) starts a replay into
 * the empty projection, from the first record it can still hold (REPLAY_LOOKBACK_SECONDS). A
 * watch every `POSITION_WATCH_MS` does the same for an idle partition, so an emptied Redis heals
 * with no new record and no command typed.
 */
import type { Admin, Kafka } from "kafkajs";
import type { Config } from "../domain/config.ts";
import { type GroupRole, REPLAY_LOOKBACK_SECONDS } from "../domain/groups.ts";
import { positionField, positionKey } from "../redis/keys.ts";
import { run, startReplay } from "../redis/scripts.ts";
import type { RunnerContext } from "./context.ts";

/** How often a consumer checks that Redis still holds the positions of its partitions. */
export const POSITION_WATCH_MS = 2_000;

/**
 * Where a replay of `partition` into an empty projection starts: the first record written within
 * the group's lookback, or the oldest the log still holds; and since when the projection then
 * holds the partition's records (`covers_from_ms`: 0 when the log holds the partition from its
 * first record; otherwise the lookback's start, or the retention's when the log is shorter).
 */
export async function replayStart(admin: Admin, config: Config, role: GroupRole, partition: number, nowMs: number) {
  const lookbackMs = REPLAY_LOOKBACK_SECONDS[role] * 1000;
  const [byTime, ends] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(config.TOPIC, nowMs - lookbackMs), admin.fetchTopicOffsets(config.TOPIC)]);
  const end = ends.find((p) => p.partition === partition);
  const low = Number(end?.low ?? 0);
  const high = Number(end?.high ?? 0);
  const from = Math.max(low, Math.min(high, Number(byTime.find((p) => p.partition === partition)?.offset ?? high)));
  const coversFromMs = from > low ? nowMs - lookbackMs : low === 0 ? 0 : nowMs - Math.min(lookbackMs, config.TOPIC_RETENTION_HOURS * 3_600_000);
  return { from, high, coversFromMs };
}

export interface Positions {
  /** The partitions of this process's last join: each is resumed from Redis's position. */
  assign(partitions: number[]): void;
  /**
   * Brings the partition to the position Redis holds: seeks there, or, when Redis holds none,
   * starts a replay into the empty projection and seeks to its start. `reached` is the offset
   * this process had reached (Kafka's committed offset when it has not read the partition since
   * it was assigned): poison records below it were dead-lettered already.
   */
  resync(partition: number, reached?: number): Promise<void>;
  /** A batch of the partition was applied: Redis now holds `to`. */
  applied(partition: number, to: string): void;
  /** The offset below which the partition's poison records were dead-lettered before (a replay skips them). */
  deadLetteredBelow(partition: number): number;
  /** The partition's poison records below `below` are dead-lettered. */
  deadLettered(partition: number, below: number): void;
  /** Starts the watch of every `POSITION_WATCH_MS`. */
  startWatching(): void;
  stopWatching(): void;
  /** Disconnects the admin client (after the consumer: a batch in hand may still resync). */
  close(): Promise<void>;
}

/** The positions of one runner; `seek` moves the Kafka consumer's reading of a partition. */
export function createPositions(ctx: RunnerContext, kafka: Kafka, seek: (partition: number, offset: string) => void): Positions {
  const { config, role, redis, metrics, log } = ctx;
  const topic = config.TOPIC;
  const admin = kafka.admin();
  let adminConnected: Promise<void> | undefined;
  let watcher: ReturnType<typeof setInterval> | undefined;
  let watching = false;
  /** The partitions this process was assigned at its last join. */
  let assigned: number[] = [];
  /** Per partition, the position this process expects Redis to hold (the end of its last batch or seek). */
  const expected = new Map<number, string>();
  /** Per partition, offsets below which poison records were dead-lettered before (a replay skips them). */
  const deadLetteredBelow = new Map<number, number>();

  const connectAdmin = async () => {
    adminConnected ??= admin.connect().catch((err) => {
      adminConnected = undefined;
      throw err;
    });
    await adminConnected;
  };

  /** The group's committed offset for the partition (Kafka's), 0 when none. */
  async function committedOffset(partition: number): Promise<number> {
    await connectAdmin();
    const [offsets] = await admin.fetchOffsets({ groupId: ctx.id, topics: [topic] });
    return Math.max(0, Number(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? 0));
  }

  async function resync(partition: number, reached?: number): Promise<void> {
    const field = positionField(topic, partition);
    deadLetteredBelow.set(partition, Math.max(deadLetteredBelow.get(partition) ?? 0, reached ?? (await committedOffset(partition))));
    let position = await redis.hget(positionKey(config, role, ctx.group.shard), field);
    if (position === null) {
      await connectAdmin();
      const start = await replayStart(admin, config, role, partition, ctx.clock.now());
      position = await run(redis, startReplay(config, role, field, String(start.from), String(start.high), start.coversFromMs, ctx.group.shard));
      metrics.inc(ctx.metric("replays_total"));
      log.info(`${role}: Redis holds no position for partition ${partition}; replaying the log from offset ${position} (${Math.max(0, start.high - Number(position))} records)`);
    } else {
      log.info(`${role}: Redis holds position ${position} for partition ${partition} (this process was at ${reached}); resuming there`);
    }
    metrics.inc(ctx.metric("seeks_total"));
    expected.set(partition, position);
    seek(partition, position);
  }

  /**
   * Checks that Redis holds, for each partition of this process, the position this process is
   * at, and resyncs those where it does not: a partition just assigned (resume from Redis's
   * position, whatever Kafka's committed offset says), a position gone (a replay starts) or
   * another one (a restored snapshot).
   */
  async function watch(): Promise<void> {
    if (watching || !assigned.length) return;
    watching = true;
    try {
      const fields = assigned.map((p) => positionField(topic, p));
      const stored = await redis.hmget(positionKey(config, role, ctx.group.shard), ...fields);
      for (const [i, partition] of assigned.entries()) {
        const position = stored[i] ?? null;
        const mine = expected.get(partition);
        if (position === null || position !== mine) await resync(partition, mine === undefined ? undefined : Number(mine));
      }
    } catch (err) {
      log.limited(`watch:${role}`, "warn", `${role}: could not check the positions in Redis, will retry`, { error: String(err) });
    } finally {
      watching = false;
    }
  }

  return {
    assign(partitions) {
      assigned = partitions;
      expected.clear();
      void watch();
    },
    resync,
    applied: (partition, to) => void expected.set(partition, to),
    deadLetteredBelow: (partition) => deadLetteredBelow.get(partition) ?? 0,
    deadLettered: (partition, below) => void deadLetteredBelow.set(partition, below),
    startWatching() {
      watcher = setInterval(watch, POSITION_WATCH_MS);
    },
    stopWatching: () => clearInterval(watcher),
    async close() {
      if (adminConnected) await admin.disconnect().catch(() => {});
    },
  };
}
