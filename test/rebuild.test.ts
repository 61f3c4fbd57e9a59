/**
 * `bun run rebuild` and self-healing against the real Kafka and Redis. The consumer roles run as
 * processes all along: when the namespace's Redis keys are flushed they replay the log by
 * themselves; a rebuild drops a group's projection in one call and they replay it; the figures,
 * the hours beyond the 3-hour window included, come back exactly; /health shows a group
 * catching up. A drop killed after its first call leaves the group dropped and replaying, and the
 * next rebuild finishes it; reads answer between the short calls of a drop of a large store. The
 * rebuild of a live pipeline (the simulator feeding) is at the end.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import Redis from "ioredis";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { HealthService } from "../src/api/health/service.ts";
import { redisStore } from "../src/api/store-redis.ts";
import type { GroupRole } from "../src/domain/projection.ts";
import { WHOLE } from "../src/domain/shards.ts";
import { consumerGroups, groupId } from "../src/kafka/client.ts";
import { addrTotalKey } from "../src/projections/addresses/keys.ts";
import { topAddresses } from "../src/projections/addresses/read.ts";
import { hourBuckets, minuteBuckets } from "../src/projections/counts/read.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf, ROLES } from "../src/projections/registry.ts";
import { DROP_BUDGET, deleteDroppedTransactions, dropTransactions } from "../src/projections/transactions/drop.ts";
import { txBodyPrefix, txDroppedKey } from "../src/projections/transactions/keys.ts";
import { latestTransactions, storedTransactionCount, transactionByHash } from "../src/projections/transactions/read.ts";
import { type RebuildProgress, rebuild } from "../src/rebuild/rebuild.ts";
import { keyPrefix, positionKey, replayKey, versionKey } from "../src/redis/keys.ts";
import { defineScripts } from "../src/redis/loader.ts";
import { groupProgress } from "../src/redis/read.ts";
import { run } from "../src/redis/scripts.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import { fillStore, storedHash } from "../tools/testkit/store.ts";
import { adminLogin, roleEnv, testEnv, waitFor } from "./helpers/env.ts";
import { createTopic, waitCommitted as kafkaWaitCommitted, produce, txMessage } from "./helpers/kafka.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(60_000);

const env = testEnv();
const redis = defineScripts(env.redis);
const now = () => Math.floor(Date.now() / 1000);
const start = now();
const roles = new Pipeline(env, "rebuild");
afterAll(async () => {
  await roles.stop();
});

/** The projection of `role` in the registry (a test about one group names it once). */
const projection = (role: GroupRole) => projectionOf(role) as Projection;
const counts = projection("counts");
const addresses = projection("addresses");
const transactions = projection("transactions");

/** Every group of the registry (each shard's, of a sharded one) has committed the end of the topic. */
const waitCommitted = () =>
  kafkaWaitCommitted(
    env.kafka,
    env.config.TOPIC,
    consumerGroups(env.config, PROJECTIONS).map((g) => g.group),
    120_000,
  );

// ---- the figures, as the API reads them ---------------------------------------------------------

const minuteFrom = (Math.floor(start / 60) * 60 - 179 * 60) * 1000;
const hourFrom = (Math.floor(start / 3600) * 3600 - 6 * 3600) * 1000;

async function figures() {
  const { config } = env;
  return {
    minutes: await minuteBuckets(redis, config, minuteFrom, 180),
    hours: await hourBuckets(redis, config, hourFrom, 7),
    receivedTop: await topAddresses(redis, config, "received", 50),
    sentTop: await topAddresses(redis, config, "sent", 50),
    received: await redis.zrange(addrTotalKey(config, "received"), 0, -1, "WITHSCORES"),
    sent: await redis.zrange(addrTotalKey(config, "sent"), 0, -1, "WITHSCORES"),
    stored: await storedTransactionCount(redis, config),
    latest: await latestTransactions(redis, config, 1000),
  };
}

/** The transaction bodies under the namespace (`transactions:<hash>` keys), whatever the by-time index says. */
async function bodyCount(config = env.config) {
  let n = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${txBodyPrefix(config)}*`, "COUNT", 5000);
    n += keys.filter((k) => /:[0-9a-f]{64}$/.test(k)).length;
    cursor = next;
  } while (cursor !== "0");
  return n;
}

async function flushNamespace() {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix(env.config)}*`, "COUNT", 5000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** Waits until the figures equal `want` and stay so (every group level with the log). */
const healed = (want: unknown, what: string) => waitFor(what, async () => Bun.deepEquals(await figures(), want), 60_000);

// ---- the tests -----------------------------------------------------------------------------------

describe("rebuild", () => {
  const txs = syntheticTransactions(3000, { seed: 61, addresses: 2000, fromSec: start - 170 * 60, toSec: start - 60 });
  // Hours beyond the 3-hour window: only the hour buckets keep them.
  const older = syntheticTransactions(200, { seed: 63, addresses: 300, fromSec: start - 6 * 3600, toSec: start - 4 * 3600 });
  const dupes = txs.filter((_, i) => i % 25 === 0);
  const records = txs.length + older.length + dupes.length;
  let before: Awaited<ReturnType<typeof figures>>;

  test("after the namespace's Redis keys are flushed, the running consumers replay the log and every figure comes back", async () => {
    await createTopic(env.kafka, env.config);
    await produce(env.kafka, env.config.TOPIC, [...txs, ...older, ...dupes].map(txMessage));
    for (const role of ROLES) roles.spawn(`consumer-${role}`);
    await waitCommitted();
    await waitFor("3000 stored", async () => (await storedTransactionCount(redis, env.config)) === 3000);
    before = await figures();
    expect(before.minutes.reduce((s, b) => s + b.count, 0)).toBe(3000);
    expect(before.hours.reduce((s, b) => s + b.count, 0)).toBe(3200);
    expect(before.receivedTop.length).toBe(50);

    await flushNamespace();
    await healed(before, "the consumers to replay the flushed projections");
    expect(await figures()).toEqual(before);
  }, 150_000);

  test("rebuilding one group, then all, drops each projection in one call; the consumers replay it and the figures, hours included, are unchanged", async () => {
    const progress: RebuildProgress[] = [];
    const [one] = await rebuild({
      config: env.config,
      redis,
      projections: PROJECTIONS,
      partitions: env.config.TOPIC_PARTITIONS,
      roles: [addresses.role],
      onProgress: (p) => progress.push(p),
    });
    expect(one?.deletedKeys).toBeGreaterThan(0);
    expect(one?.replaying).toBe(true);
    expect(one?.replayed).toBe(records);
    expect(progress.at(-1)).toMatchObject({ role: addresses.role, done: true, replayed: records, total: records, started: env.config.TOPIC_PARTITIONS });
    await healed(before, "the addresses group to replay");
    const all = await rebuild({ config: env.config, redis, projections: PROJECTIONS, partitions: env.config.TOPIC_PARTITIONS });
    expect(all.map((r) => [r.role, r.replayed])).toEqual(ROLES.map((r) => [r, records]));
    await healed(before, "every group to replay");
    expect(await figures()).toEqual(before);
  }, 150_000);

  test("`bun run rebuild --group transactions` as a process drops the group and prints the replay until it is level", async () => {
    const root = join(import.meta.dir, "..");
    const child = Bun.spawn([process.execPath, join(root, "src", "roles", "rebuild.ts"), "--group", transactions.role], {
      cwd: root,
      env: { ...process.env, ...env.env, ...roleEnv("rebuild"), LOG_LEVEL: "error" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([child.exited, new Response(child.stdout).text()]);
    expect(code).toBe(0);
    expect(out).toContain(
      `rebuild ${transactions.role} (${groupId(env.config, transactions)}): ${records.toLocaleString("en-US")} of ${records.toLocaleString("en-US")} records (100%), level with the log`,
    );
    await healed(before, "the transactions group to replay");
  }, 90_000);

  test("a drop killed after its first call leaves the group dropped and replaying; the group's upkeep finishes what it left", async () => {
    const { config } = env;
    const stored = await storedTransactionCount(redis, config);
    expect(stored).toBe(3000);
    // The drop's one atomic call, then one of its deleting calls, and no more: killed there.
    expect(await run(redis, dropTransactions(config))).toEqual({ dropped: true, deleted: 4, left: stored });
    const step = await run(redis, deleteDroppedTransactions(config, 1000));
    expect(step.left).toBe(stored - 1000);
    // Dropped and replaying: the consumers replay into fresh keys by themselves, and every figure comes back.
    await waitFor("the transactions group to start its replay", async () => (await groupProgress(redis, config, transactions)).replayUntil.size === env.config.TOPIC_PARTITIONS);
    await healed(before, "the transactions group to replay after a drop killed mid-way");
    // The group's upkeep deletes the bodies the killed drop left (the replay's own stay), with no command typed.
    await waitFor("the upkeep to delete what the killed drop left", async () => (await redis.exists(txDroppedKey(config))) === 0, 60_000);
    expect(await bodyCount()).toBe(stored);
    // A rebuild after it drops and replays as usual.
    const [next] = await rebuild({ config, redis, projections: PROJECTIONS, partitions: config.TOPIC_PARTITIONS, roles: [transactions.role] });
    expect(next?.replayed).toBe(records);
    await healed(before, "the transactions group to replay after the next rebuild");
  }, 150_000);

  test("/health says which groups are current or catching up (with the records to go)", async () => {
    const probe = new KafkaProbe(env.kafka.admin(), env.config.TOPIC, []);
    // No answer cache: each check reads what the test just wrote.
    const health = new HealthService(redis, redisStore(redis, env.config, PROJECTIONS), probe, PROJECTIONS, Date.now, undefined, { cacheMs: 0 });
    const state = async (role: GroupRole) => (await health.check()).projections.find((p) => p.role === role);
    try {
      // Every group of the registry, in its order, current.
      expect((await health.check()).projections.map((p) => [p.role, p.state])).toEqual(ROLES.map((role) => [role, "current"]));
      // A replay half done, as the consumers record it (lua/startReplay-3.lua): partition 0 is 750 records short.
      const field = `${env.config.TOPIC}:0`;
      const position = Number(await redis.hget(positionKey(env.config, counts), field));
      await redis.hset(replayKey(env.config, counts), `${field}:until`, position + 750);
      expect(await state(counts.role)).toEqual({ role: counts.role, state: "catching_up", records_to_replay: 750 });
      const body = await health.check();
      expect(body.status).toBe("ok");
      await redis.hset(replayKey(env.config, counts), `${field}:until`, position);
      expect(await state(counts.role)).toEqual({ role: counts.role, state: "current", records_to_replay: 0 });
    } finally {
      await probe.close();
    }
  });
});

describe("a drop in short calls", () => {
  test("reads answer between the calls of a drop of a large store; the projection is empty from the first call, and nothing of it is left but its version", async () => {
    // Its own namespace, no consumers: only the drop runs on it.
    const config = { ...env.config, REDIS_PREFIX: `${env.config.REDIS_PREFIX}-large` };
    const n = 8 * DROP_BUDGET;
    await fillStore(redis, config, n, now() - 3600);
    expect(await storedTransactionCount(redis, config)).toBe(n);
    const reader = defineScripts(new Redis(env.config.REDIS_URL, adminLogin()));
    const latest: number[] = [];
    let answered = 0;
    try {
      const deleted = await transactions.drop(redis, config, WHOLE, async () => {
        // What the API reads, on another connection, between two calls of the drop.
        latest.push((await latestTransactions(reader, config, 10)).length);
        await transactionByHash(reader, config, storedHash(n - 1));
        answered++;
      });
      // The by-time index, the seen set, and every body.
      expect(deleted).toBe(n + 2);
    } finally {
      reader.disconnect();
    }
    // A read between every two calls: after the drop's first call, and after each deleting call but the last.
    expect(latest).toEqual(Array.from({ length: n / DROP_BUDGET }, () => 0));
    expect(answered).toBe(n / DROP_BUDGET);
    expect(await bodyCount(config)).toBe(0);
    // Nothing of it is left but its version, which the drop's calls set again (so the API sees the change).
    const [, left] = await redis.scan("0", "MATCH", `${keyPrefix(config)}*`, "COUNT", 10_000);
    expect(left).toEqual([versionKey(config, transactions)]);
  }, 120_000);
});

describe("rebuild of a live pipeline", () => {
  test("one group rebuilt while the simulator keeps feeding: its consumers replay by themselves, and the figures equal the independent computation", async () => {
    const live = testEnv();
    const p = new Pipeline(live, "rebuild-live");
    try {
      await p.feed({ rate: 150, seed: 62 });
      p.spawnAll();
      await p.settle();
      const before = p.frames.length;
      const steps: RebuildProgress[] = [];
      const [result] = await rebuild({
        config: live.config,
        redis: defineScripts(live.redis),
        projections: PROJECTIONS,
        partitions: live.config.TOPIC_PARTITIONS,
        roles: [addresses.role],
        onProgress: (s) => steps.push(s),
      });
      // The feed went on during the rebuild, and the rebuild replayed what came before it.
      expect(p.frames.length).toBeGreaterThan(before);
      expect(result?.replayed).toBeGreaterThanOrEqual(before);
      expect(steps.at(-1)?.done).toBe(true);
      await Bun.sleep(2_000);
      const figures = await p.settle();
      expect(figures.transactions).toBe(new Set(p.frames.map((f) => JSON.parse(f).x.hash)).size);
      console.log(`rebuild while feeding: ${result?.replayed} records replayed; ${figures.transactions} transactions, lost ${figures.lost}, counted twice ${figures.twice}`);
      // The addresses consumer never left its group.
      const admin = live.kafka.admin();
      await admin.connect();
      const [group] = (await admin.describeGroups([groupId(live.config, addresses)])).groups;
      await admin.disconnect();
      expect(group?.members.length).toBe(1);
    } finally {
      await p.stop();
    }
  }, 180_000);
});
