/**
 * The log fault matrix: faults of the Kafka log under the projections, on the whole pipeline
 * (simulator, producer and every group as processes, the API in process) with a redis-server of
 * this file's own (so a snapshot can be restored). Every group at once, in each case:
 *   - a Redis position below the log's start (records deleted under it);
 *   - a Redis snapshot older than the log (positions and figures from before records were deleted);
 *   - the topic deleted and recreated: the positions beyond the new log's end, and a new log that
 *     has grown past the old positions (told apart by the group's marker).
 * In each case every partition moves again within 60 s, the figures come out exact for what the
 * log still holds (test/helpers/pipeline.ts `settle`, on the frames the log holds), the lost span
 * is flagged, and the consumers' logs stay rate-limited.
 *
 * Records are routed by hash (PARTITIONER=hash): every partition has records all the time.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { shardsOf } from "../src/domain/projection.ts";
import { minuteOf } from "../src/domain/window.ts";
import { countsMinuteKey } from "../src/projections/counts/keys.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf, ROLES } from "../src/projections/registry.ts";
import { metricsKey, positionField, positionKey } from "../src/redis/keys.ts";
import { shardProgresses } from "../src/redis/read.ts";
import { freePort } from "../tools/infra/process.ts";
import { type LocalRedis, startRedis } from "../tools/infra/redis.ts";
import { testStack } from "../tools/testkit/stack.ts";
import { adminLogin, bounded, testEnv, waitFor } from "./helpers/env.ts";
import { createTopic } from "./helpers/kafka.ts";
import { Pipeline } from "./helpers/pipeline.ts";

const ARTIFACTS = join(import.meta.dir, "artifacts");
const root = mkdtempSync(join(tmpdir(), "log-faults-"));
const port = freePort();
let redis: LocalRedis;
let admin: Redis;
let p: Pipeline;
const env = testEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, PARTITIONER: "hash" });
// After testEnv, which sets its own default.
setDefaultTimeout(180_000);
const { config } = env;
const PARTITIONS = config.TOPIC_PARTITIONS;
const results: string[] = [];
/** The group the wrong-type case plants a key in front of (its minute keys are written every batch). */
const counts = projectionOf("counts") as Projection;
const COUNTS_CONSUMER = `consumer-${counts.role}` as const;

beforeAll(async () => {
  redis = await startRedis({ port, dataDir: join(root, "redis"), persist: false, aclFile: testStack().aclFile });
  admin = new Redis(redis.url, adminLogin());
  admin.on("error", () => {});
  p = new Pipeline(env, "log-faults");
  await p.feed({ rate: 100, seed: 23 });
  p.spawnAll();
  await waitFor("100 frames delivered", () => p.frames.length > 100, 90_000);
}, 180_000);

afterAll(async () => {
  await bounded("stopping the pipeline", () => p?.stop(), 40_000);
  admin?.disconnect();
  await bounded("stopping redis-server", () => redis?.stop());
  rmSync(root, { recursive: true, force: true });
  for (const r of results) console.log(`log fault: ${r}`);
});

/** Every (group, shard, partition) position field of the topic, as [position key, field]. */
const everyPosition = () =>
  PROJECTIONS.flatMap((spec) =>
    shardsOf(spec, config).flatMap((shard) => Array.from({ length: PARTITIONS }, (_, i) => [positionKey(config, spec, shard), positionField(config.TOPIC, i)] as const)),
  );

/** The log's end of each partition. */
async function logEnds(): Promise<number[]> {
  const a = env.kafka.admin();
  await a.connect();
  try {
    const ends = await a.fetchTopicOffsets(config.TOPIC);
    return Array.from({ length: PARTITIONS }, (_, i) => Number(ends.find((e) => e.partition === i)?.high ?? 0));
  } finally {
    await a.disconnect();
  }
}

/** Deletes every record the log holds now: its start moves to its end. */
async function deleteEveryRecord(): Promise<number[]> {
  const ends = await logEnds();
  const a = env.kafka.admin();
  await a.connect();
  try {
    await a.fetchTopicMetadata({ topics: [config.TOPIC] });
    await a.deleteTopicRecords({ topic: config.TOPIC, partitions: ends.map((end, partition) => ({ partition, offset: String(end) })) });
  } finally {
    await a.disconnect();
  }
  return ends;
}

/** Pauses the feed and waits until every group has committed the end of the log. */
async function quiet(): Promise<void> {
  p.sim?.pause();
  await waitFor("every group level with the log", () => p.drained(), 60_000);
}

/** Every position of every group is at or past `ends` (each partition moved again). */
const movedPast = (ends: number[], what: string) =>
  waitFor(
    what,
    async () => {
      for (const [key, field] of everyPosition()) {
        const at = Number(await admin.hget(key, field));
        if (!(at > (ends[Number(field.slice(field.lastIndexOf(":") + 1))] ?? 0))) return false;
      }
      return true;
    },
    60_000,
  );

/** Consumer log lines matching `pattern`, over every consumer process of this file. */
function logLines(pattern: RegExp): number {
  let n = 0;
  for (const f of readdirSync(ARTIFACTS)) {
    if (!f.startsWith("log-faults-consumer-")) continue;
    for (const line of readFileSync(join(ARTIFACTS, f), "utf8").split("\n")) if (pattern.test(line)) n++;
  }
  return n;
}

/** One line per event, and repeats rate-limited: a jammed partition logged thousands a minute. */
function rateLimited(): void {
  const resumes = logLines(/resuming there/);
  const gaps = logLines(/were lost before the group read them/);
  const others = logLines(/is not the one the projection was built from|beyond the log's end/);
  results.push(`log lines so far: ${resumes} resumes, ${gaps} gaps, ${others} other-log`);
  expect(resumes + gaps + others).toBeLessThan(200);
}

/** A group's gaps over all its shards and partitions. */
async function gapCount(): Promise<number> {
  let n = 0;
  for (const spec of PROJECTIONS) for (const shard of await shardProgresses(admin, config, spec)) for (const g of shard.gaps.values()) n += g.length;
  return n;
}

describe("the log fault matrix: no position outside the log jams a partition", () => {
  test("baseline", async () => {
    const r = await p.settle(60_000);
    expect(r.lost + r.twice).toBe(0);
  });

  test("a position below the log's start: the partition goes on from the first record, and the lost span is a gap", async () => {
    await quiet();
    const ends = await deleteEveryRecord();
    // Every group's every position back below what the log still holds.
    for (const [key, field] of everyPosition()) await admin.hset(key, field, "1");
    p.sim?.resume();
    await movedPast(ends, "every partition of every group moving again past the deleted records");
    // Nothing the log held was lost (the records below its start had been applied): exact.
    const r = await p.settle(60_000);
    results.push(`below the log start: ${r.transactions} transactions, lost ${r.lost}, counted twice ${r.twice}`);
    // Each partition of each group recorded what it could not read as a gap, flagged in the answers.
    expect(await gapCount()).toBeGreaterThanOrEqual(everyPosition().length);
    // The answer names the gap once an answer rendered after the partitions moved on is served: one
    // rendered while a position was still below its replay's end says "replaying" (also
    // incomplete), and the API shares an answer for up to 2 s.
    const body = await waitFor(
      "the answer flagged log_gap",
      async () => {
        const { body } = await p.get<{ complete: boolean; incomplete_reason?: string }>("/transactions_count_per_minute/0");
        // An answer claiming complete ends the wait at once, and fails below.
        return (body.complete || body.incomplete_reason === "log_gap") && body;
      },
      30_000,
    );
    expect(body).toMatchObject({ complete: false, incomplete_reason: "log_gap" });
    rateLimited();
  });

  test("a Redis snapshot older than the log: figures exact for what the log holds, the rest a gap", async () => {
    await quiet();
    await admin.save();
    const snapshot = join(root, "snapshot.rdb");
    copyFileSync(join(redis.dataDir, "dump.rdb"), snapshot);
    const snapshotAt = p.frames.length;
    p.sim?.resume();
    await waitFor("500 more frames delivered", () => p.frames.length > snapshotAt + 500, 60_000);
    await quiet();
    // The log loses what was written after the snapshot: neither the snapshot nor the log holds it.
    const deletedAt = p.frames.length;
    const ends = await deleteEveryRecord();
    await redis.kill();
    copyFileSync(snapshot, join(redis.dataDir, "dump.rdb"));
    await redis.restart();
    rmSync(join(redis.dataDir, "dump.rdb"));
    p.frames.splice(snapshotAt, deletedAt - snapshotAt);
    p.sim?.resume();
    await movedPast(ends, "every partition moving again past the records the log lost");
    const r = await p.settle(60_000);
    results.push(`snapshot older than the log: ${deletedAt - snapshotAt} frames lost with the log, ${r.transactions} transactions exact, lost ${r.lost}, counted twice ${r.twice}`);
    expect(await gapCount()).toBeGreaterThanOrEqual(everyPosition().length);
    rateLimited();
  });

  test("the topic deleted and recreated: positions beyond the new log's end drop the projections, which replay the new log", async () => {
    await quiet();
    await p.stopRoles();
    await recreateTopic();
    // What the projections must hold now: the new log only.
    p.frames.splice(0, p.frames.length);
    p.spawnAll();
    p.sim?.resume();
    await waitFor("300 frames delivered into the new log", () => p.frames.length > 300, 60_000);
    const r = await p.settle(60_000);
    results.push(`topic recreated (positions beyond its end): ${r.transactions} transactions, lost ${r.lost}, counted twice ${r.twice}`);
    // Told apart by the end, or by the marker when the new log grew past a position first.
    expect(logLines(/beyond the log's end|is not the one the projection was built from/)).toBeGreaterThan(0);
    rateLimited();
  });

  test("the topic recreated and grown past the old positions: the marker tells the logs apart", async () => {
    await quiet();
    const positions = await Promise.all(everyPosition().map(([key, field]) => admin.hget(key, field).then(Number)));
    await p.stopRoles();
    await recreateTopic();
    p.frames.splice(0, p.frames.length);
    // Only the producer: the new log grows past every old position before a consumer looks.
    p.spawn("producer");
    p.sim?.resume();
    const highest = Math.max(...positions);
    await waitFor(`the new log past the old positions (${highest})`, async () => (await logEnds()).every((end) => end > highest + 10), 120_000);
    const before = logLines(/is not the one the projection was built from/);
    for (const role of ROLES) p.spawn(`consumer-${role}`);
    const r = await p.settle(90_000);
    results.push(`topic recreated and grown past the positions: ${r.transactions} transactions, lost ${r.lost}, counted twice ${r.twice}`);
    expect(logLines(/is not the one the projection was built from/)).toBeGreaterThan(before);
    rateLimited();
  });

  test("a key of the wrong type: nothing half-written or dead-lettered, the partition named, a stuck consumer exits, and on once the key is gone", async () => {
    await quiet();
    // Someone writes by hand where the counts group is about to write: the minutes ahead.
    const now = Math.floor(Date.now() / 1000);
    const planted = [0, 1, 2, 3].map((m) => countsMinuteKey(config, minuteOf(now) + m * 60));
    // The current minute holds counts already: kept aside, put back as they were once the key is removed.
    const kept = await Promise.all(planted.map(async (key) => ({ key, fields: await admin.hgetall(key), ttl: await admin.pttl(key) })));
    for (const key of planted) await admin.set(key, "by hand");
    const deadLetters = `consumer_${counts.role}_dead_letters_total`;
    const deadBefore = Number(await admin.hget(metricsKey(config), deadLetters));
    // One counts consumer for every partition, which gives up after 10 s stuck.
    await stopCounts();
    const stuck = p.spawn(COUNTS_CONSUMER, { STUCK_EXIT_SECONDS: "10" });
    p.sim?.resume();
    const error = await waitFor("the counts group to name the key", async () => [...((await shardProgresses(admin, config, counts))[0]?.errors.values() ?? [])][0], 60_000);
    expect(planted.some((key) => error.includes(key))).toBe(true);
    await waitFor("the stuck consumer to exit", () => stuck.proc.exitCode !== null, 60_000);
    expect(stuck.proc.exitCode).toBe(1);
    const lines = readFileSync(
      join(ARTIFACTS, readdirSync(ARTIFACTS).find((f) => f.startsWith(`log-faults-${COUNTS_CONSUMER}-`) && f.endsWith(`-${stuck.name.split("-").pop()}.log`)) ?? ""),
      "utf8",
    );
    expect(lines).toMatch(/has not moved for 10 s; exiting so that it is restarted/);
    // Nothing was dead-lettered for it; with the key gone, a new consumer goes on and every figure is exact.
    expect(Number(await admin.hget(metricsKey(config), deadLetters))).toBe(deadBefore);
    for (const { key, fields, ttl } of kept) {
      await admin.del(key);
      if (Object.keys(fields).length) await admin.multi().hset(key, fields).pexpire(key, ttl).exec();
    }
    p.spawn(COUNTS_CONSUMER);
    const r = await p.settle(60_000);
    results.push(`wrong type: named (${error.slice(0, 60)}...), the stuck consumer exited 1; then ${r.transactions} transactions, lost ${r.lost}, counted twice ${r.twice}`);
    // The consumer that applies again clears the error within its next tick.
    await waitFor("the error cleared", async () => (await shardProgresses(admin, config, counts))[0]?.errors.size === 0, 30_000);
  });
});

/** Stops every counts consumer process. */
async function stopCounts(): Promise<void> {
  for (let c = p.role(COUNTS_CONSUMER); c; c = p.role(COUNTS_CONSUMER)) await bounded(`stopping ${c.name}`, () => c?.stop(10_000));
}

/** Deletes the topic and creates it again (Kafka may take a moment to finish the deletion). */
async function recreateTopic(): Promise<void> {
  const a = env.kafka.admin();
  await a.connect();
  try {
    await a.deleteTopics({ topics: [config.TOPIC], timeout: 30_000 });
  } finally {
    await a.disconnect();
  }
  await waitFor(
    "the topic created again",
    () =>
      createTopic(env.kafka, config).then(
        () => true,
        () => false,
      ),
    60_000,
  );
}
