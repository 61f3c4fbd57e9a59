/**
 * Redis as a self-healing projection of the Kafka log, on the whole pipeline (simulator, producer
 * and consumers as processes, the API in process) with a redis-server of this file's own that
 * keeps nothing on disk, so it can be killed, flushed and restored. Each test loses Redis's data
 * in one way while the simulator feeds, types no command, and ends with every figure the API
 * serves equal to the independent computation over every frame delivered
 * (test/helpers/pipeline.ts `settle`) within 60 s.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { PROJECTIONS, ROLES } from "../src/projections/registry.ts";
import { metricsKey } from "../src/redis/keys.ts";
import { freePort } from "../tools/infra/process.ts";
import { type LocalRedis, startRedis } from "../tools/infra/redis.ts";
import { testStack } from "../tools/testkit/stack.ts";
import { adminLogin, bounded, testEnv, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(180_000);

const root = mkdtempSync(join(tmpdir(), "self-healing-"));
const port = freePort();
let redis: LocalRedis;
let admin: Redis;
let p: Pipeline;
const healed: { loss: string; transactions: number; lost: number; twice: number }[] = [];
const env = testEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });

beforeAll(async () => {
  redis = await startRedis({ port, dataDir: join(root, "redis"), persist: false, aclFile: testStack().aclFile });
  admin = new Redis(redis.url, adminLogin());
  admin.on("error", () => {});
  p = new Pipeline(env, "self-healing");
  await p.feed({ rate: 100, seed: 71 });
  p.spawnAll();
  await waitFor("100 frames delivered", () => p.frames.length > 100, 90_000);
}, 180_000);

afterAll(async () => {
  await bounded("stopping the pipeline", () => p?.stop(), 40_000);
  admin?.disconnect();
  await bounded("stopping redis-server", () => redis?.stop());
  rmSync(root, { recursive: true, force: true });
  for (const h of healed) console.log(`healed: ${h.loss}: ${h.transactions} transactions, lost ${h.lost}, counted twice ${h.twice}`);
});

/** Every group replayed into an empty projection since Redis lost its data (the counters are flushed every few seconds). */
const replayed = () =>
  waitFor(
    "every group's replay to show in its counters",
    async () => {
      const m = await admin.hgetall(metricsKey(env.config));
      return ROLES.every((role) => Number(m[`consumer_${role}_replays_total`] ?? 0) >= 1);
    },
    180_000,
  );

/** Every figure exact within 60 s, with no command typed. */
async function exact(loss: string) {
  const result = await p.settle(60_000);
  healed.push({ loss, ...result });
}

describe("Redis loses data; the projections heal from the log by themselves", () => {
  test("baseline", async () => {
    await exact("baseline");
  }, 180_000);

  test("redis-server SIGKILLed mid-ingest (no persistence) and started again, empty", async () => {
    await Bun.sleep(2_000);
    await redis.kill();
    await Bun.sleep(1_000);
    await redis.restart();
    await exact("empty restart");
    await replayed();
  }, 180_000);

  test("FLUSHALL on the running pipeline", async () => {
    await Bun.sleep(2_000);
    await admin.flushall();
    await exact("flush");
    await replayed();
  }, 180_000);

  test("Redis restored from a snapshot taken earlier: the positions go back with the data and the replay is exact", async () => {
    await admin.save();
    const snapshot = join(root, "snapshot.rdb");
    copyFileSync(join(redis.dataDir, "dump.rdb"), snapshot);
    const frames = p.frames.length;
    // About a minute of feed after the snapshot: what the restored Redis has lost.
    await Bun.sleep(55_000);
    expect(p.frames.length).toBeGreaterThan(frames + 1000);
    console.log(`snapshot: ${p.frames.length - frames} frames delivered after it`);
    await redis.kill();
    copyFileSync(snapshot, join(redis.dataDir, "dump.rdb"));
    await redis.restart();
    rmSync(join(redis.dataDir, "dump.rdb"));
    await exact("restored snapshot");
  }, 180_000);

  test("a producer and consumers whose clocks are 10 minutes ahead and 10 minutes behind change no figure", async () => {
    await p.stopRoles();
    const preload = ["--preload", join(import.meta.dir, "helpers", "skewed-clock.ts")];
    // The producer too, 10 minutes behind: it stamps records and judges future times by Redis's clock.
    const producer = p.spawn("producer", { CLOCK_SKEW_MS: "-600000" }, preload);
    // Every group, ahead and behind in turn; a group of several processes as two, sharing its partitions.
    const skewed = PROJECTIONS.flatMap(({ role, processes }, i) =>
      Array.from({ length: Math.min(processes, 2) }, () => p.spawn(`consumer-${role}`, { CLOCK_SKEW_MS: String(i % 2 === 0 ? 600_000 : -600_000) }, preload)),
    );
    await Bun.sleep(5_000);
    await exact("clock skew");
    // The skew took effect in every one of them.
    for (const child of [producer, ...skewed])
      expect(readFileSync(join(import.meta.dir, "artifacts", `self-healing-${child.name}.log`), "utf8")).toMatch(/skewed clock: -?600000 ms/);
  }, 180_000);

  test("a second start of the pipeline with Kafka's log kept and Redis new serves the whole log", async () => {
    p.sim?.pause();
    await p.stopRoles();
    await admin.flushall();
    expect(await admin.dbsize()).toBe(0);
    p.spawnAll();
    await exact("second start");
    expect(existsSync(join(redis.dataDir, "dump.rdb"))).toBe(false);
  }, 180_000);
});
