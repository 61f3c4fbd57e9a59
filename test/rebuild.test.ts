/**
 * `bun run rebuild` against the real Kafka and Redis: after the namespace's Redis keys are
 * flushed, the rebuild brings back exactly the figures the consumers had computed; a second
 * rebuild changes nothing; it gives up when a consumer of the group does not step aside;
 * /health shows it. The rebuild of a live pipeline (consumer roles stepping aside while the
 * simulator keeps feeding) is at the end.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { HealthService } from "../src/api/health/service.ts";
import { redisStore } from "../src/api/store-redis.ts";
import type { Config } from "../src/config.ts";
import { addressesGroup } from "../src/consumers/addresses.ts";
import { countsGroup } from "../src/consumers/counts.ts";
import type { GroupProcessor } from "../src/consumers/group.ts";
import { syntheticTransactions } from "../src/consumers/population.ts";
import { type ConsumerRunner, createConsumerRunner } from "../src/consumers/runner.ts";
import { transactionsGroup } from "../src/consumers/transactions.ts";
import { type GroupRole, groupId } from "../src/kafka/client.ts";
import { createLogger } from "../src/log.ts";
import { type RebuildProgress, RebuildRefused, rebuild } from "../src/rebuild/rebuild.ts";
import { readRebuildStatus, writeRebuildStatus } from "../src/rebuild/status.ts";
import { addrReceivedKey, addrSentKey, keyPrefix, rebuildStatusKey } from "../src/redis/keys.ts";
import { hourBuckets, latestTransactions, minuteBuckets, storedTransactionCount, topAddresses } from "../src/redis/read.ts";
import { type TestEnv, testEnv } from "./helpers/env.ts";
import { createTopic, waitCommitted as kafkaWaitCommitted, produce, txMessage } from "./helpers/kafka.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(60_000);

const ROLES: GroupRole[] = ["counts", "addresses", "transactions"];
const GROUPS: Record<GroupRole, (c: Config) => GroupProcessor> = { counts: countsGroup, addresses: addressesGroup, transactions: transactionsGroup };
const env = testEnv();
const quiet = (config: Config) => createLogger("test", { ...config, LOG_LEVEL: "error" });
const now = () => Math.floor(Date.now() / 1000);
const start = now();

const running: ConsumerRunner[] = [];
const children: { kill(signal?: number | NodeJS.Signals): void }[] = [];
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(running.map((r) => r.stop().catch(() => {})));
});

const waitCommitted = (t: TestEnv, roles: GroupRole[]) =>
  kafkaWaitCommitted(t.kafka, t.config.TOPIC, roles.map((role) => groupId(t.config, role)), 60_000);

async function startRunners(roles: GroupRole[]): Promise<ConsumerRunner[]> {
  const runners = roles.map((role) => createConsumerRunner({ config: env.config, group: GROUPS[role](env.config), log: quiet(env.config), kafka: env.kafka }));
  running.push(...runners);
  await Promise.all(runners.map((r) => r.start()));
  return runners;
}

// ---- the figures, as the API reads them ---------------------------------------------------------

const minuteFrom = (Math.floor(start / 60) * 60 - 179 * 60) * 1000;
const hourFrom = (Math.floor(start / 3600) * 3600 - 3 * 3600) * 1000;

async function figures() {
  const { redis, config } = env;
  return {
    minutes: await minuteBuckets(redis, config, minuteFrom, 180),
    hours: await hourBuckets(redis, config, hourFrom, 4),
    receivedTop: await topAddresses(redis, config, "received", 50),
    sentTop: await topAddresses(redis, config, "sent", 50),
    received: await redis.zrange(addrReceivedKey(config), 0, -1, "WITHSCORES"),
    sent: await redis.zrange(addrSentKey(config), 0, -1, "WITHSCORES"),
    stored: await storedTransactionCount(redis, config),
    latest: await latestTransactions(redis, config, 1000),
  };
}

async function flushNamespace() {
  let cursor = "0";
  do {
    const [next, keys] = await env.redis.scan(cursor, "MATCH", `${keyPrefix(env.config)}*`, "COUNT", 5000);
    if (keys.length) await env.redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

// ---- the tests -----------------------------------------------------------------------------------

describe("rebuild", () => {
  const txs = syntheticTransactions(3000, { seed: 61, addresses: 2000, fromSec: start - 170 * 60, toSec: start - 60 });
  const dupes = txs.filter((_, i) => i % 25 === 0);
  let before: Awaited<ReturnType<typeof figures>>;

  test("after the namespace's Redis keys are flushed, a rebuild brings back the same figures", async () => {
    await createTopic(env.kafka, env.config);
    await produce(env.kafka, env.config.TOPIC, [...txs, ...dupes].map(txMessage));
    const runners = await startRunners(ROLES);
    await waitCommitted(env, ROLES);
    await Promise.all(runners.map((r) => r.stop()));
    before = await figures();
    expect(before.stored).toBe(3000);
    expect(before.minutes.reduce((s, b) => s + b.count, 0)).toBe(3000);
    expect(before.receivedTop.length).toBe(50);

    await flushNamespace();
    expect((await figures()).stored).toBe(0);
    const progress: RebuildProgress[] = [];
    const results = await rebuild({ config: env.config, kafka: env.kafka, redis: env.redis, log: quiet(env.config), onProgress: (p) => progress.push(p) });
    expect(results.map((r) => [r.role, r.replayed])).toEqual(ROLES.map((r) => [r, txs.length + dupes.length]));
    for (const role of ROLES) expect(progress.filter((p) => p.role === role && p.done).map((p) => p.replayed)).toEqual([txs.length + dupes.length]);
    expect(await figures()).toEqual(before);
    // The status key is gone once the rebuild ended.
    expect(await env.redis.exists(rebuildStatusKey(env.config))).toBe(0);
  });

  test("rebuilding again (one group, then all) changes nothing", async () => {
    const [one] = await rebuild({ config: env.config, kafka: env.kafka, redis: env.redis, log: quiet(env.config), roles: ["addresses"] });
    expect(one?.deletedKeys).toBeGreaterThan(0);
    expect(await figures()).toEqual(before);
    await rebuild({ config: env.config, kafka: env.kafka, redis: env.redis, log: quiet(env.config) });
    expect(await figures()).toEqual(before);
  });

  test("gives up, touching nothing, when a consumer of the group does not step aside", async () => {
    // An in-process runner without stepAsideForRebuild stands for a consumer that does not.
    const [runner] = await startRunners(["counts"]);
    const attempt = rebuild({ config: env.config, kafka: env.kafka, redis: env.redis, log: quiet(env.config), roles: ["counts"], stepAsideTimeoutMs: 2_000 });
    await expect(attempt).rejects.toThrow(
      new RebuildRefused(`the consumers of group ${groupId(env.config, "counts")} did not step aside within 2 s (it has 1 member): stop them first`),
    );
    expect(await env.redis.exists(rebuildStatusKey(env.config))).toBe(0);
    await runner?.stop();
    expect(await figures()).toEqual(before);
  });

  test("`bun run rebuild --group transactions` as a process rebuilds the group and prints its progress", async () => {
    const root = join(import.meta.dir, "..");
    const child = Bun.spawn([process.execPath, join(root, "src", "roles", "rebuild.ts"), "--group", "transactions"], {
      cwd: root,
      env: { ...process.env, ...env.env, LOG_LEVEL: "error" },
      stdout: "pipe",
      stderr: "pipe",
    });
    children.push(child);
    const [code, out] = await Promise.all([child.exited, new Response(child.stdout).text()]);
    expect(code).toBe(0);
    expect(out).toContain(`rebuild transactions (${groupId(env.config, "transactions")}): 3,120 of 3,120 records (100%)`);
    expect(await figures()).toEqual(before);
  });

  test("/health reports a rebuild in progress, and null otherwise", async () => {
    const probe = new KafkaProbe(env.kafka.admin(), env.config.TOPIC, []);
    const health = new HealthService(env.redis, redisStore(env.redis, env.config), probe, async () => null, Date.now, () => readRebuildStatus(env.redis, env.config));
    try {
      expect((await health.check()).rebuilding).toBeNull();
      await writeRebuildStatus(env.redis, env.config, { group: "g", role: "counts", started_at: "2026-01-01T00:00:00.000Z", replayed: 250, total: 1000 });
      const body = await health.check();
      expect(body.status).toBe("ok");
      expect(body.rebuilding).toEqual({ group: "g", role: "counts", started_at: "2026-01-01T00:00:00.000Z", replayed: 250, total: 1000, progress: 0.25 });
    } finally {
      await env.redis.unlink(rebuildStatusKey(env.config));
      await probe.close();
    }
  });
});

describe("rebuild of a live pipeline", () => {
  test("one group rebuilt while the simulator keeps feeding: its consumers step aside and come back, and the figures equal the independent computation", async () => {
    const live = testEnv();
    const p = new Pipeline(live, "rebuild-live");
    try {
      await p.feed({ rate: 150, seed: 62 });
      p.spawnAll();
      await p.settle();
      const before = p.frames.length;
      const steps: RebuildProgress[] = [];
      const [result] = await rebuild({ config: live.config, kafka: live.kafka, redis: live.redis, log: quiet(live.config), roles: ["addresses"], onProgress: (s) => steps.push(s) });
      // The feed went on during the rebuild, and the rebuild replayed what came before it.
      expect(p.frames.length).toBeGreaterThan(before);
      expect(result?.replayed).toBeGreaterThanOrEqual(before);
      expect(steps.at(-1)?.done).toBe(true);
      await Bun.sleep(2_000);
      const figures = await p.settle();
      expect(figures.transactions).toBe(new Set(p.frames.map((f) => JSON.parse(f).x.hash)).size);
      console.log(`rebuild while feeding: ${result?.replayed} records replayed; ${figures.transactions} transactions, lost ${figures.lost}, counted twice ${figures.twice}`);
      // The addresses consumer is back in its group.
      const admin = live.kafka.admin();
      await admin.connect();
      const [group] = (await admin.describeGroups([groupId(live.config, "addresses")])).groups;
      await admin.disconnect();
      expect(group?.members.length).toBe(1);
    } finally {
      await p.stop();
    }
  }, 180_000);
});
