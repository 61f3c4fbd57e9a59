/**
 * Event-sourced rebuild: a group's Redis state recomputed from the Kafka log.
 *
 * Per chosen group (default all three), one after the other:
 *   0. write `{prefix}:rebuild` naming the group and wait until the group has no member: the
 *      consumer roles watch that key and leave the group while it names theirs (runner.ts
 *      `stepAsideForRebuild`); a consumer that does not (say, an old version) makes the
 *      rebuild give up after `stepAsideTimeoutMs` without touching anything;
 *   1. capture the topic's high watermarks (the end of the replay);
 *   2. move the group's committed offsets back to the first record written inside the window
 *      the group needs (`LOOKBACK_MS`: 3 h for addresses and transactions, 24 h for counts,
 *      whose hour buckets are kept 24 h), or the earliest retained record when the log starts
 *      later (admin.fetchTopicOffsetsByTimestamp);
 *   3. delete the group's keys (dedupe sets and state: `groupKeyPatterns`) with SCAN + UNLINK;
 *   4. run the group's normal consumer runner in this process until its committed offsets
 *      reach the captured high watermarks, then stop it (commit, leave the group). Poison
 *      records are skipped, not dead-lettered again. Records written after the capture are
 *      applied by the consumers when they join again (when the key names another group or is
 *      gone); the dedupe sets make that exactly-once.
 * While it runs, `{prefix}:rebuild` (status.ts) says which group and how far; /health shows it.
 */
import Redis from "ioredis";
import type { Admin, Kafka } from "kafkajs";
import type { Config } from "../config.ts";
import { addressesGroup } from "../consumers/addresses.ts";
import { countsGroup } from "../consumers/counts.ts";
import type { GroupProcessor } from "../consumers/group.ts";
import { createConsumerRunner, type ConsumerRunner, SESSION_TIMEOUT_MS } from "../consumers/runner.ts";
import { transactionsGroup } from "../consumers/transactions.ts";
import { createKafka, type GroupRole, groupId } from "../kafka/client.ts";
import { createLogger, type Logger } from "../log.ts";
import { groupKeyPatterns } from "../redis/keys.ts";
import { clearRebuildStatus, writeRebuildStatus } from "./status.ts";

export const REBUILD_ROLES: readonly GroupRole[] = ["counts", "addresses", "transactions"];

/** How far back (by record timestamp) each group's replay starts. */
export const LOOKBACK_MS: Record<GroupRole, number> = {
  counts: 24 * 3600_000,
  addresses: 3 * 3600_000,
  transactions: 3 * 3600_000,
};

const GROUP_OF: Record<GroupRole, (config: Config) => GroupProcessor> = { counts: countsGroup, addresses: addressesGroup, transactions: transactionsGroup };

/** A rebuild that must not start: a consumer of the group did not step aside, or the topic is missing. */
export class RebuildRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RebuildRefused";
  }
}

export interface RebuildProgress {
  role: GroupRole;
  group: string;
  replayed: number;
  total: number;
  /** Records a second since this group's replay started. */
  rate: number;
  /** Estimated seconds left; null while the rate is unknown. */
  secondsLeft: number | null;
  done: boolean;
}

export interface RebuildResult {
  role: GroupRole;
  group: string;
  /** Records replayed (from the reset offsets to the captured high watermarks). */
  replayed: number;
  /** Redis keys deleted before the replay. */
  deletedKeys: number;
  ms: number;
}

export interface RebuildOptions {
  config: Config;
  /** Groups to rebuild, in this order; default all three. */
  roles?: readonly GroupRole[];
  /** Created from the config when absent (and then closed at the end). */
  kafka?: Kafka;
  redis?: Redis;
  log?: Logger;
  /** The clock, unix ms. */
  now?: () => number;
  /** Called at most every `progressEveryMs` while replaying, and once when a group is done. */
  onProgress?: (p: RebuildProgress) => void;
  progressEveryMs?: number;
  /** Stops the replay (the runner commits what it applied and leaves the group); the rebuild then rejects. */
  signal?: AbortSignal;
  /** How long to wait for a group's consumers to leave it; default `STEP_ASIDE_TIMEOUT_MS`. */
  stepAsideTimeoutMs?: number;
}

/**
 * How long a rebuild waits for a group's consumers to step aside: they look every second, then
 * finish the batch in hand, commit and leave.
 */
export const STEP_ASIDE_TIMEOUT_MS = 30_000;

/** Members of each group; a group with members has a running consumer. */
export async function activeMembers(admin: Admin, ids: string[]): Promise<Map<string, number>> {
  const { groups } = await admin.describeGroups(ids);
  return new Map(groups.map((g) => [g.groupId, g.members.length]));
}

/** Waits until the group has no member; throws RebuildRefused when members remain after `timeoutMs`. */
export async function awaitStepAside(admin: Admin, id: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = (await activeMembers(admin, [id])).get(id) ?? 0;
    if (n === 0) return;
    if (Date.now() >= deadline || signal?.aborted) {
      throw new RebuildRefused(
        `the consumers of group ${id} did not step aside within ${Math.round(timeoutMs / 1000)} s (it has ${n} member${n === 1 ? "" : "s"}): stop them first`,
      );
    }
    await sleep(250, signal);
  }
}

/** SCAN + UNLINK of every key matching the patterns; literal patterns (no `*`) are unlinked directly. Returns the keys deleted. */
export async function deleteKeys(redis: Redis, patterns: readonly string[]): Promise<number> {
  let deleted = 0;
  const literal = patterns.filter((p) => !p.includes("*"));
  if (literal.length) deleted += await redis.unlink(...literal);
  for (const pattern of patterns.filter((p) => p.includes("*"))) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 5000);
      if (keys.length) deleted += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  }
  return deleted;
}

/**
 * Commits `partitions` as the group's offsets, as kafkajs' admin.setOffsets does (join the group
 * with a paused consumer, seek, stop on the first fetch, which commits the seeks), but with a
 * short fetch wait: the admin's consumer waits its default 5 s for that first fetch.
 */
async function setOffsets(kafka: Kafka, id: string, topic: string, partitions: { partition: number; offset: string }[]): Promise<void> {
  const consumer = kafka.consumer({ groupId: id, maxWaitTimeInMs: 100, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: SESSION_TIMEOUT_MS / 5 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const { state, members } = await consumer.describeGroup();
    if (members.length > 0) throw new RebuildRefused(`stop the consumers of group ${id} first: it has ${members.length} member${members.length === 1 ? "" : "s"} (state ${state})`);
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.FETCH, () => {
        consumer.stop().then(resolve, reject);
      });
      consumer.run({ autoCommit: true, eachBatchAutoResolve: false, eachBatch: async () => {} }).catch(reject);
      consumer.pause([{ topic }]);
      for (const p of partitions) consumer.seek({ topic, ...p });
    });
  } finally {
    await consumer.disconnect();
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      done();
    }, { once: true });
  });

async function rebuildGroup(role: GroupRole, admin: Admin, kafka: Kafka, redis: Redis, options: RebuildOptions, log: Logger): Promise<RebuildResult> {
  const { config, signal } = options;
  const now = options.now ?? Date.now;
  const id = groupId(config, role);
  const topic = config.TOPIC;
  const started = now();
  const startedAt = new Date(started).toISOString();
  // Asks the group's consumers to step aside (runner.ts watches this key), then waits for them.
  await writeRebuildStatus(redis, config, { group: id, role, started_at: startedAt, replayed: 0, total: 0 });
  await awaitStepAside(admin, id, options.stepAsideTimeoutMs ?? STEP_ASIDE_TIMEOUT_MS, signal);

  const ends = await admin.fetchTopicOffsets(topic);
  const high = new Map(ends.map((p) => [p.partition, Number(p.high)]));
  const from = await admin.fetchTopicOffsetsByTimestamp(topic, started - LOOKBACK_MS[role]);
  const start = new Map(from.map((p) => [p.partition, Math.min(Number(p.offset), high.get(p.partition) ?? 0)]));
  const total = [...high].reduce((s, [p, h]) => s + Math.max(0, h - (start.get(p) ?? h)), 0);

  await setOffsets(kafka, id, topic, [...start].map(([partition, offset]) => ({ partition, offset: String(offset) })));

  await writeRebuildStatus(redis, config, { group: id, role, started_at: startedAt, replayed: 0, total });
  const deletedKeys = await deleteKeys(redis, groupKeyPatterns(config, role));
  log.info(`rebuild ${role}: offsets of ${id} reset, ${deletedKeys} keys deleted, replaying ${total} records`);

  const replayedNow = async (): Promise<number> => {
    const [offsets] = await admin.fetchOffsets({ groupId: id, topics: [topic] });
    let replayed = 0;
    for (const p of offsets?.partitions ?? []) {
      const s = start.get(p.partition);
      const h = high.get(p.partition);
      if (s === undefined || h === undefined) continue;
      replayed += Math.max(0, Math.min(Number(p.offset), h) - s);
    }
    return replayed;
  };

  let replayed = 0;
  const replayStart = now();
  const progress = (done: boolean): RebuildProgress => {
    const secs = Math.max(0.001, (now() - replayStart) / 1000);
    const rate = replayed / secs;
    return { role, group: id, replayed, total, rate, secondsLeft: rate > 0 ? (total - replayed) / rate : null, done };
  };

  if (total > 0) {
    let fatal: Error | undefined;
    const runner: ConsumerRunner = createConsumerRunner({
      config,
      group: GROUP_OF[role](config),
      log,
      kafka,
      now,
      deadLetters: false,
      onFatal: (err) => {
        fatal = err;
      },
    });
    try {
      await runner.start();
      const every = options.progressEveryMs ?? 1_000;
      let lastReport = now();
      for (;;) {
        if (signal?.aborted) throw new Error(`rebuild of ${id} interrupted at ${replayed} of ${total} records`);
        if (fatal) throw new Error(`rebuild of ${id}: the consumer crashed: ${fatal.message}`);
        replayed = await replayedNow();
        if (replayed >= total) break;
        if (now() - lastReport >= every) {
          lastReport = now();
          await writeRebuildStatus(redis, config, { group: id, role, started_at: startedAt, replayed, total });
          options.onProgress?.(progress(false));
        }
        await sleep(200, signal);
      }
    } finally {
      await runner.stop();
    }
  }
  options.onProgress?.(progress(true));
  return { role, group: id, replayed, deletedKeys, ms: now() - started };
}

/** Rebuilds the chosen groups one after the other; rejects with RebuildRefused when the topic is missing or a group's consumers do not step aside. */
export async function rebuild(options: RebuildOptions): Promise<RebuildResult[]> {
  const { config } = options;
  const roles = options.roles?.length ? [...new Set(options.roles)] : [...REBUILD_ROLES];
  const log = options.log ?? createLogger("rebuild", config);
  const kafka = options.kafka ?? createKafka(config, `rebuild-${process.pid}`, log);
  const redis = options.redis ?? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 });
  const admin = kafka.admin();
  const results: RebuildResult[] = [];
  let wrote = false;
  try {
    await admin.connect();
    if (!(await admin.listTopics()).includes(config.TOPIC)) throw new RebuildRefused(`topic ${config.TOPIC} does not exist: there is nothing to rebuild from`);
    for (const role of roles) {
      wrote = true;
      results.push(await rebuildGroup(role, admin, kafka, redis, options, log));
    }
    return results;
  } finally {
    if (wrote) await clearRebuildStatus(redis, config).catch(() => {});
    await admin.disconnect().catch(() => {});
    if (!options.redis) await redis.quit().catch(() => redis.disconnect());
  }
}
