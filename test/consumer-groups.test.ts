/**
 * Every consumer group of the registry against the real Kafka and Redis, as role processes (and,
 * for the Redis outage, as runners in this process): figures equal an independent
 * computation; duplicates, redelivery, a SIGKILLed consumer, a Redis outage and poison records
 * change nothing; dead letters carry the group and the reason; SIGTERM exits 0 after committing.
 * What each group does with records older than the 3-hour window comes from its spec (its keep).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type Redis from "ioredis";
import type { Message } from "kafkajs";
import { type GroupProcessor, processorOf, processorsOf } from "../src/consumers/group.ts";
import { replayStart } from "../src/consumers/positions.ts";
import { type ConsumerRunner, createConsumerRunner } from "../src/consumers/runner.ts";
import { type Config, loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import { type ProjectionSpec, shardsOf } from "../src/domain/projection.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { consumerGroups, dlqTopic, groupId } from "../src/kafka/client.ts";
import { addrTotalKey } from "../src/projections/addresses/keys.ts";
import { topAddresses } from "../src/projections/addresses/read.ts";
import { hourBuckets, minuteBuckets } from "../src/projections/counts/read.ts";
import { HOUR_BUCKET_KEEP_SECONDS } from "../src/projections/counts/spec.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { latestTransactions, storedTransactionCount, transactionByHash } from "../src/projections/transactions/read.ts";
import { metricsKey, seenKey } from "../src/redis/keys.ts";
import { freePort } from "../tools/infra/process.ts";
import { type LocalRedis, startRedis } from "../tools/infra/redis.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import { testStack } from "../tools/testkit/stack.ts";
import { roleEnv, type TestEnv, testEnv, waitFor } from "./helpers/env.ts";
import { committedTotal, createTopic, waitCommitted as kafkaWaitCommitted, produce, txMessage } from "./helpers/kafka.ts";

// Real brokers and consumer groups (Bun 1.3 applies the preload's default timeout to the first file only).
setDefaultTimeout(60_000);

/**
 * Whether a group applies records `newestSec` to `oldestSec` old, as its spec says: its figures
 * stay in Redis `keepSeconds`, so a record older than that is stale (counted, not applied). The
 * ages a test uses must stay clear of every group's keep, so the answer does not hang on how the
 * group rounds (an hour bucket starts up to an hour before its records) or on how long the test
 * runs: a keep between them fails the test rather than guess.
 */
function keeps(spec: ProjectionSpec, newestSec: number, oldestSec: number): boolean {
  const [below, above] = [10 * 60, 3600 + 10 * 60];
  if (spec.keepSeconds > newestSec - below && spec.keepSeconds < oldestSec + above)
    throw new Error(`${spec.role} keeps ${spec.keepSeconds} s: too close to the test's records, ${newestSec}..${oldestSec} s old, to tell whether they are stale`);
  return spec.keepSeconds >= oldestSec + above;
}

// ---- the independent computation ----------------------------------------------------------------

interface Figures {
  minutes: Map<number, { count: number; value: number }>;
  hours: Map<number, { count: number; value: number }>;
  received: Map<string, number>;
  sent: Map<string, number>;
  stored: Transaction[];
}

/**
 * What Redis must hold after `txs` (in delivery order, duplicates included) at `nowSec`: the
 * window's transactions for minutes, addresses and the store; for hours, every transaction whose
 * hour is still kept (the counts group keeps 25 hours of them).
 */
function expected(txs: Transaction[], nowSec: number): Figures {
  const firstMinute = Math.floor(nowSec / 60) * 60 - 179 * 60;
  const once = new Map<string, Transaction>();
  for (const tx of txs) if (!once.has(tx.hash)) once.set(tx.hash, tx);
  const kept = [...once.values()].filter((tx) => Math.floor(tx.time / 60) * 60 >= firstMinute);
  const hourKept = [...once.values()].filter((tx) => Math.floor(tx.time / 3600) * 3600 + HOUR_BUCKET_KEEP_SECONDS > nowSec);
  const f: Figures = { minutes: new Map(), hours: new Map(), received: new Map(), sent: new Map(), stored: [] };
  const bump = (m: Map<number, { count: number; value: number }>, k: number, v: number) => {
    const b = m.get(k) ?? { count: 0, value: 0 };
    m.set(k, { count: b.count + 1, value: b.value + v });
  };
  for (const tx of hourKept) bump(f.hours, Math.floor(tx.time / 3600) * 3600, tx.value);
  for (const tx of kept) {
    bump(f.minutes, Math.floor(tx.time / 60) * 60, tx.value);
    for (const o of tx.outputs) if (o.address !== null && o.value > 0) f.received.set(o.address, (f.received.get(o.address) ?? 0) + o.value);
    for (const i of tx.inputs) if (i.address !== null && i.value !== null && i.value > 0) f.sent.set(i.address, (f.sent.get(i.address) ?? 0) + i.value);
  }
  // Newest first; equal times in reverse hash order (the sorted set read backwards).
  f.stored = kept.sort((a, b) => b.time - a.time || (a.hash < b.hash ? 1 : -1));
  return f;
}

/** The record as a producer wrote it before version 2: no `weight`. */
const version1 = ({ v, weight, ...rest }: Transaction): Transaction => ({ ...rest, v: 1 });

/** What the API serves of a record: neither its version, its arrival nor its weight. */
const served = ({ v, received_at, weight, ...rest }: Transaction) => rest;

async function rolling(redis: Redis, key: string): Promise<Map<string, number>> {
  const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
  const out = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) out.set(flat[i] as string, Number(flat[i + 1]));
  return out;
}

const top = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
    .slice(0, n)
    .map(([address, total_value]) => ({ address, total_value }));

/** Every figure Redis holds equals the independent computation. */
async function expectFigures(env: TestEnv, f: Figures, nowSec: number) {
  const { redis, config } = env;
  const from = (Math.floor(nowSec / 60) * 60 - 179 * 60) * 1000;
  const minutes = await minuteBuckets(redis, config, from, 180);
  expect(minutes.filter((b) => b.count > 0)).toEqual([...f.minutes].sort((a, b) => a[0] - b[0]).map(([m, b]) => ({ start: m * 1000, ...b })));
  const firstHour = Math.min(...f.hours.keys());
  const hours = await hourBuckets(redis, config, firstHour * 1000, 8);
  expect(hours.filter((b) => b.count > 0)).toEqual([...f.hours].sort((a, b) => a[0] - b[0]).map(([h, b]) => ({ start: h * 1000, ...b })));
  expect(await rolling(redis, addrTotalKey(config, "received"))).toEqual(f.received);
  expect(await rolling(redis, addrTotalKey(config, "sent"))).toEqual(f.sent);
  expect(await topAddresses(redis, config, "received", 10)).toEqual(top(f.received, 10));
  expect(await topAddresses(redis, config, "sent", 10)).toEqual(top(f.sent, 10));
  expect(await storedTransactionCount(redis, config)).toBe(f.stored.length);
  expect(await latestTransactions(redis, config, 100)).toEqual(f.stored.slice(0, 100).map(served));
  for (const tx of [f.stored[0], f.stored[Math.floor(f.stored.length / 2)], f.stored[f.stored.length - 1]]) {
    if (tx) expect(await transactionByHash(redis, config, tx.hash)).toEqual(served(tx));
  }
}

// ---- Kafka helpers (./helpers/kafka.ts) ------------------------------------------------------------

/** The Kafka group ids of `specs` (one per shard of a sharded one), in the registry's order. */
const groupIds = (config: Config, specs: readonly ProjectionSpec[] = PROJECTIONS) => consumerGroups(config, specs).map((g) => g.group);

/** Every group of `specs` has committed the end of the topic. A first group join late in a full run has taken 30-60 s. */
const waitCommitted = (env: TestEnv, specs: readonly ProjectionSpec[] = PROJECTIONS, config = env.config, timeoutMs = 150_000) =>
  kafkaWaitCommitted(env.kafka, env.config.TOPIC, groupIds(config, specs), timeoutMs);

/** The offsets a group (by its Kafka id) has committed, summed over the partitions. */
const committed = (env: TestEnv, group: string) => committedTotal(env.kafka, env.config.TOPIC, group);

const quiet = (config: Config) => createLogger("test", { ...config, LOG_LEVEL: "error" });

function startRunners(env: TestEnv, projections: readonly Projection[] = PROJECTIONS, config = env.config): ConsumerRunner[] {
  // The test's Kafka client logs nothing (several runners racing to create the topic is expected).
  return projections.flatMap((projection) => processorsOf(projection, config).map((group) => createConsumerRunner({ config, group, log: quiet(config), kafka: env.kafka })));
}

const running: ConsumerRunner[] = [];
afterAll(async () => {
  await Promise.all(running.map((r) => r.stop().catch(() => {})));
});

const now = () => Math.floor(Date.now() / 1000);

/** testEnv, with its assertion client quiet while the Redis test stops Redis (it reconnects by itself). */
const env_ = () => {
  const env = testEnv();
  env.redis.on("error", () => {});
  return env;
};

// ---- the roles as processes ------------------------------------------------------------------------

const ROOT = join(import.meta.dir, "..");
const children: Subprocess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});
let spawned = 0;

/** Starts a consumer role from its entry point; its log goes to a file (an unread pipe would block it once full). */
function spawnConsumer(env: TestEnv, role: string, extra: Record<string, string> = {}): Subprocess {
  mkdirSync(join(ROOT, "test", "artifacts"), { recursive: true });
  const child = Bun.spawn([process.execPath, join(ROOT, "src", "roles", "consumer.ts"), role], {
    cwd: ROOT,
    env: { ...process.env, ...env.env, ...roleEnv(`consumer-${role}`), LOG_LEVEL: "error", ...extra },
    stdout: "ignore",
    stderr: Bun.file(join(ROOT, "test", "artifacts", `consumer-groups-${role}-${++spawned}.log`)),
  });
  children.push(child);
  return child;
}

/**
 * Every group of the registry as a process until every group has committed the end of the topic,
 * then SIGTERM (each commits, leaves its group, flushes its counters to Redis and exits 0).
 * Processes rather than runners in this process: late in a full run, kafkajs consumers inside
 * the test process have stopped making progress for minutes (a socket stuck connecting); the
 * role processes never have.
 */
async function runRolesUntilCommitted(env: TestEnv, extra: Record<string, string> = {}) {
  const config = loadConfig({ ...env.env, ...extra });
  const roles = PROJECTIONS.map(({ role }) => spawnConsumer(env, role, extra));
  await waitCommitted(env, PROJECTIONS, config);
  for (const child of roles) child.kill("SIGTERM");
  expect(await Promise.all(roles.map((c) => c.exited))).toEqual(roles.map(() => 0));
}

/** The counters every role flushed to Redis (metricsKey), as numbers. */
async function counters(env: TestEnv): Promise<Record<string, number>> {
  const h = await env.redis.hgetall(metricsKey(env.config));
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]));
}

// ---- the tests -----------------------------------------------------------------------------------

describe("every group", () => {
  const env = env_();
  const start = now();
  // A few thousand in the window (away from its edges, and within every group's keep), 20 from before it, 150 sent twice. One in
  // ten is a version-1 record (no weight), as a log written before version 2 holds: applied alike.
  // "Fresh" is within every group's keep (the shortest keep of the registry, 10 minutes clear of it).
  const freshOldest = Math.min(...PROJECTIONS.map((p) => p.keepSeconds)) - 10 * 60;
  const fresh = syntheticTransactions(3000, { seed: 11, addresses: 2000, fromSec: start - freshOldest, toSec: start - 60 }).map((tx, i) => (i % 10 === 5 ? version1(tx) : tx));
  const [oldNewest, oldOldest] = [4 * 3600, 5 * 3600];
  const old = syntheticTransactions(20, { seed: 12, addresses: 50, fromSec: start - oldOldest, toSec: start - oldNewest });
  const again = fresh.filter((_, i) => i % 20 === 0);
  const valid = [...fresh, ...old, ...again];
  const poison: { value: string | null; reason: RegExp }[] = [
    { value: "{ not json", reason: /^record value is not JSON$/ },
    { value: JSON.stringify({ v: 1, hash: "zz" }), reason: /^not a valid transaction: / },
    // A version after this consumer's own.
    { value: JSON.stringify({ ...fresh[0], v: SCHEMA_VERSION + 1 }), reason: new RegExp(`^unknown schema version ${SCHEMA_VERSION + 1}:`) },
    { value: null, reason: /^empty record value$/ },
    { value: "[1,2,3]", reason: /^not a valid transaction: / },
    { value: JSON.stringify({ ...fresh[1], hash: "ab".repeat(32), time: start + 7200 }), reason: /^time \d+ is more than 3600 s ahead of Redis's clock/ },
  ];
  let poisonOffsets: string[] = [];

  test("after a few thousand transactions every figure equals an independent computation", async () => {
    expect(fresh.filter((tx) => tx.v === 1).length).toBe(300);
    await createTopic(env.kafka, env.config);
    // Poison records go to partition 0 between valid ones.
    const messages: (Message & { partition: number })[] = valid.map(txMessage);
    const positions = [5, 400, 900, 1500, 2100, 2500];
    const poisonMessages = poison.map((p) => ({ value: p.value, partition: 0 }));
    positions.forEach((at, k) => messages.splice(at + k, 0, poisonMessages[k] as Message & { partition: number }));
    const offsets = await produce(env.kafka, env.config.TOPIC, messages);
    poisonOffsets = positions.map((at, k) => offsets[at + k] as string);

    await runRolesUntilCommitted(env);
    await expectFigures(env, expected(valid, now()), now());
    const m = await counters(env);
    for (const spec of PROJECTIONS) {
      const { role } = spec;
      const count = (name: string) => m[`consumer_${role}_${name}_total`];
      // The 20 from 4-5 hours ago are outside the 3-hour window: applied by a group that keeps
      // its figures longer than that (the counts group keeps its hours 25 hours), stale for one
      // that keeps them less.
      const aged = keeps(spec, oldNewest, oldOldest) ? { applied: fresh.length + old.length, stale: 0 } : { applied: fresh.length, stale: old.length };
      expect({ role, applied: count("applied"), duplicates: count("duplicates"), stale: count("stale"), dead: count("dead_letters") }).toEqual({
        role,
        ...aged,
        duplicates: again.length,
        dead: poison.length,
      });
    }
  }, 180_000);

  test("poison records land in the dead-letter topic with the group, the reason and where they came from", async () => {
    const consumer = env.kafka.consumer({ groupId: `${env.config.GROUP_PREFIX}dlq-reader`, maxWaitTimeInMs: 200 });
    const letters: { value: string | null; headers: Record<string, string> }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: dlqTopic(env.config), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        letters.push({ value: message.value?.toString() ?? null, headers });
      },
    });
    // Each poison record once per group (a sharded group's shards read every record: each is a group of its own).
    const groups = groupIds(env.config);
    const want = groups.length * poison.length;
    // A first group join late in a full run can take a minute (see waitCommitted).
    await waitFor(`${want} dead letters`, () => letters.length >= want, 150_000);
    await consumer.disconnect();
    expect(letters.length).toBe(want);
    for (const group of groups) {
      const mine = letters.filter((l) => l.headers.source === group).sort((a, b) => Number(a.headers.offset) - Number(b.headers.offset));
      expect(mine.map((l) => l.headers.offset)).toEqual(poisonOffsets);
      mine.forEach((letter, k) => {
        const p = poison[k] as (typeof poison)[number];
        expect(letter.value).toBe(p.value);
        expect(letter.headers.reason).toMatch(p.reason);
        expect(letter.headers.topic).toBe(env.config.TOPIC);
        expect(letter.headers.partition).toBe("0");
      });
    }
  }, 180_000);

  test("the same records delivered twice (written again, and read again from the start) change nothing", async () => {
    await produce(env.kafka, env.config.TOPIC, valid.map(txMessage));
    // Groups with new ids on the same Redis state read the topic from its start, as after an
    // offset reset (kafkajs' resetOffsets joins each group to do it, which is slow). Redis's
    // positions send them to where the projections are: the records read again are skipped
    // whole, and the records written again are duplicates by hash.
    const before = await counters(env);
    await runRolesUntilCommitted(env, { GROUP_PREFIX: `${env.config.GROUP_PREFIX}replay-` });
    await expectFigures(env, expected(valid, now()), now());
    const after = await counters(env);
    for (const spec of PROJECTIONS) {
      const { role } = spec;
      const delta = (name: string) => (after[`consumer_${role}_${name}_total`] ?? 0) - (before[`consumer_${role}_${name}_total`] ?? 0);
      // The old records are stale again for a group that does not keep them (stale before seen), duplicates for one that does.
      const stale = keeps(spec, oldNewest, oldOldest) ? 0 : old.length;
      expect({ role, applied: delta("applied"), duplicates: delta("duplicates"), sought: delta("seeks") > 0 }).toEqual({
        role,
        applied: 0,
        duplicates: valid.length - stale,
        sought: true,
      });
    }
  }, 180_000);
});

// The Redis of this test is its own (the run's shared one must stay up for the other files: a
// redis-server restarted from inside a test is a child bun test kills at the end of the file).
const ownRedis = { port: freePort(), dir: mkdtempSync(join(tmpdir(), "consumer-redis-away-")), server: undefined as LocalRedis | undefined };
afterAll(async () => {
  await ownRedis.server?.stop();
  rmSync(ownRedis.dir, { recursive: true, force: true });
});

describe("Redis away", () => {
  const env = testEnv({ REDIS_URL: `redis://127.0.0.1:${ownRedis.port}` });
  env.redis.on("error", () => {});

  test("the consumer commits nothing while Redis is down, loses nothing, and resumes when it is back", async () => {
    const server = await startRedis({ port: ownRedis.port, dataDir: ownRedis.dir, persist: true, aclFile: testStack().aclFile });
    ownRedis.server = server;
    await createTopic(env.kafka, env.config);
    const start = now();
    const first = syntheticTransactions(200, { seed: 21, addresses: 300, fromSec: start - 3600, toSec: start - 1800 });
    const second = syntheticTransactions(800, { seed: 22, addresses: 300, fromSec: start - 1800, toSec: start - 60 });
    await produce(env.kafka, env.config.TOPIC, first.map(txMessage));
    const runners = startRunners(env);
    running.push(...runners);
    await Promise.all(runners.map((r) => r.start()));
    await waitCommitted(env);
    const groups = groupIds(env.config);
    // Every group has committed every record of the first lot.
    const before = await Promise.all(groups.map((g) => committed(env, g)));
    expect(before).toEqual(groups.map(() => first.length));

    await server.stop();
    try {
      await produce(env.kafka, env.config.TOPIC, second.map(txMessage));
      await waitFor("every group to retry", () => runners.every((r) => Object.entries(r.metrics.snapshot()).some(([k, v]) => k.endsWith("_retries_total") && v >= 2)));
      expect(await Promise.all(groups.map((g) => committed(env, g)))).toEqual(before);
    } finally {
      await server.restart();
    }
    await waitCommitted(env);
    await Promise.all(runners.map((r) => r.stop()));
    await expectFigures(env, expected([...first, ...second], now()), now());
  }, 180_000);
});

describe("roles as processes", () => {
  const env = env_();
  const spawnRole = (role: string) => spawnConsumer(env, role);

  /** The hashes a group has applied, over its shards: its seen set, written with the effects of every call. */
  const seenCount = async (spec: ProjectionSpec) => {
    let n = 0;
    for (const shard of shardsOf(spec, env.config)) n += await env.redis.zcard(seenKey(env.config, spec, shard));
    return n;
  };

  test("consumers SIGKILLed while consuming, then restarted, leave every figure exact; SIGTERM exits 0 after committing", async () => {
    await createTopic(env.kafka, env.config);
    const start = now();
    const txs = syntheticTransactions(12_000, { seed: 31, addresses: 8_000, fromSec: start - 170 * 60, toSec: start - 60 });
    const dupes = txs.filter((_, i) => i % 10 === 0);
    const all = [...txs, ...dupes];
    await produce(env.kafka, env.config.TOPIC, all.map(txMessage));

    const first = PROJECTIONS.map(({ role }) => spawnRole(role));
    // Kill each one (kill -9) as soon as Redis shows its first script calls, typically before
    // the batch is committed: the restart then redelivers what the scripts already applied.
    await Promise.all(
      PROJECTIONS.map(async (spec, k) => {
        const deadline = Date.now() + 60_000;
        while ((await seenCount(spec)) === 0) {
          if (Date.now() > deadline) throw new Error(`${spec.role} never applied anything`);
          await Bun.sleep(10);
        }
        first[k]?.kill("SIGKILL");
      }),
    );
    await Promise.all(first.map((c) => c.exited));
    const groups = groupIds(env.config);
    const partWay = await Promise.all(groups.map((g) => committed(env, g)));
    // Killed part-way: no group had committed everything.
    expect(partWay.every((n) => n < all.length)).toBe(true);

    const second = PROJECTIONS.map(({ role }) => spawnRole(role));
    await waitCommitted(env, PROJECTIONS, env.config, 90_000);
    await expectFigures(env, expected(all, now()), now());

    for (const child of second) child.kill("SIGTERM");
    const codes = await Promise.all(second.map((c) => c.exited));
    expect(codes).toEqual(second.map(() => 0));
    const admin = env.kafka.admin();
    await admin.connect();
    const described = await admin.describeGroups(groups);
    await admin.disconnect();
    // Every group (each shard's) left by its members.
    expect(described.groups.map((g) => [g.groupId, g.state]).sort()).toEqual(groups.map((g) => [g, "Empty"]).sort());
  }, 180_000);
});

describe("one hash, two times", () => {
  const env = env_();

  test("a transaction delivered twice stamped in two different minutes (a rewritten future time) counts once in every group", async () => {
    await createTopic(env.kafka, env.config);
    const start = now();
    const [tx] = syntheticTransactions(1, { seed: 41, addresses: 10, fromSec: start - 600, toSec: start - 540 });
    if (!tx) throw new Error("no transaction");
    // The same hash a minute later: on another partition (minute partitioning), so even another consumer.
    const later = { ...tx, time: tx.time + 60 };
    const others = syntheticTransactions(50, { seed: 42, addresses: 100, fromSec: start - 900, toSec: start - 300 });
    await produce(env.kafka, env.config.TOPIC, [tx, ...others, later].map(txMessage));
    await runRolesUntilCommitted(env);
    // Counted once, at the time of the delivery applied first (offsets of one partition are in
    // order, across partitions either may be first): the figures are those of `tx` or of `later`.
    const f1 = expected([tx, ...others], now());
    const f2 = expected([later, ...others], now());
    const minutes = (await minuteBuckets(env.redis, env.config, (start - 3600) * 1000, 61)).reduce((s, b) => s + b.count, 0);
    expect(minutes).toBe(51);
    expect(await storedTransactionCount(env.redis, env.config)).toBe(51);
    expect(await rolling(env.redis, addrTotalKey(env.config, "received"))).toEqual(f1.received);
    expect(await rolling(env.redis, addrTotalKey(env.config, "sent"))).toEqual(f1.sent);
    const stored = await transactionByHash(env.redis, env.config, tx.hash);
    expect([tx.time, later.time]).toContain(stored?.time as number);
    // Each group chose on its own which delivery came first: check each against both.
    const minuteFigures = (await minuteBuckets(env.redis, env.config, (start - 3600) * 1000, 61)).filter((b) => b.count > 0);
    const asMinutes = (f: Figures) => [...f.minutes].sort((a, b) => a[0] - b[0]).map(([m, b]) => ({ start: m * 1000, ...b }));
    expect([asMinutes(f1), asMinutes(f2)]).toContainEqual(minuteFigures);
    const latest = await latestTransactions(env.redis, env.config, 100);
    expect([f1.stored.map(served), f2.stored.map(served)]).toContainEqual(latest);
    const m = await counters(env);
    for (const { role } of PROJECTIONS)
      expect({ role, applied: m[`consumer_${role}_applied_total`], duplicates: m[`consumer_${role}_duplicates_total`] }).toEqual({ role, applied: 51, duplicates: 1 });
  }, 180_000);
});

describe("a record a script refuses", () => {
  const env = env_();

  test("is a dead letter with the script's reason, and its partition goes on", async () => {
    await createTopic(env.kafka, env.config);
    const start = now();
    const txs = syntheticTransactions(300, { seed: 51, addresses: 200, fromSec: start - 600, toSec: start - 60 });
    const bad = txs[100] as Transaction;
    // The schema and the scripts agree on what a valid transaction is, so a refusal is made here:
    // the real applyCounts-5.lua refuses a negative value (-3), as it would a record a future
    // schema let through.
    const spec = projectionOf("counts") as Projection;
    const counts = processorOf(spec, env.config);
    const refusing: GroupProcessor = {
      ...counts,
      apply: (redis, records, stretch) =>
        counts.apply(
          redis,
          records.map((r) => (r.tx.hash === bad.hash ? { ...r, tx: { ...r.tx, value: -5 } } : r)),
          stretch,
        ),
    };
    const messages = txs.map((tx) => ({ ...txMessage(tx), partition: 0 }));
    const offsets = await produce(env.kafka, env.config.TOPIC, messages);
    const runner = createConsumerRunner({ config: env.config, group: refusing, log: quiet(env.config), kafka: env.kafka });
    running.push(runner);
    await runner.start();
    await waitCommitted(env, [spec]);
    await runner.stop();
    // Every other transaction counted; the refused one not.
    const counted = (await minuteBuckets(env.redis, env.config, (start - 3600) * 1000, 61)).reduce((s, b) => s + b.count, 0);
    expect(counted).toBe(txs.length - 1);
    expect(runner.metrics.snapshot()).toMatchObject({ [`consumer_${spec.role}_script_refusals_total`]: 1, [`consumer_${spec.role}_dead_letters_total`]: 1 });
    // Its dead letter says which script refused it and why, and where it came from.
    const consumer = env.kafka.consumer({ groupId: `${env.config.GROUP_PREFIX}dlq-reader`, maxWaitTimeInMs: 200 });
    const letters: Record<string, string>[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: dlqTopic(env.config), fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void letters.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))) });
    await waitFor("the dead letter", () => letters.length >= 1, 60_000);
    await consumer.disconnect();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ source: groupId(env.config, spec), offset: offsets[100], partition: "0" });
    expect(letters[0]?.reason).toMatch(/^refused by applyCounts: a time, count or value is not a non-negative integer \(code -3\)$/);
  }, 180_000);
});

describe("where a replay into an empty projection starts", () => {
  const env = env_();

  test("from the first record within the group's lookback, covering since the log began, or from the first record the log kept", async () => {
    await createTopic(env.kafka, env.config);
    const start = now();
    const txs = syntheticTransactions(60, { seed: 71, addresses: 50, fromSec: start - 600, toSec: start - 60 });
    await produce(
      env.kafka,
      env.config.TOPIC,
      txs.map((tx, i) => ({ ...txMessage(tx), partition: i % 2 })),
    );
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [env.config.TOPIC] });
      // Retention took partition 1's first 10 records.
      await admin.deleteTopicRecords({ topic: env.config.TOPIC, partitions: [{ partition: 1, offset: "10" }] });
      const nowMs = Date.now();
      const config = { ...env.config, TOPIC_RETENTION_HOURS: 4 };
      // Every record was written within the last minutes (its stamp is when it was written).
      const margin = 600_000;
      for (const spec of PROJECTIONS) {
        const lookbackMs = spec.replayLookbackSeconds * 1000;
        // The log holds partition 0 from its first record: the projection covers it since the log began.
        expect({ role: spec.role, start: await replayStart(admin, config, spec, 0, nowMs) }).toEqual({ role: spec.role, start: { from: 0, high: 30, coversFromMs: 0 } });
        // Partition 1 lost its start: since when it is covered is the first record's stamp, known once read
        // (the records deleted below offset 10 may have been within the group's lookback).
        expect({ role: spec.role, start: await replayStart(admin, config, spec, 1, nowMs) }).toEqual({ role: spec.role, start: { from: 10, high: 30, coversFromMs: "" } });
        // Its own lookback decides. Later, while it still reaches back before the first record, the replay starts there;
        const within = nowMs + lookbackMs - margin;
        expect({ role: spec.role, start: await replayStart(admin, config, spec, 0, within) }).toEqual({ role: spec.role, start: { from: 0, high: 30, coversFromMs: 0 } });
        // records older than the lookback stay out: a lookback that starts after the last record starts at the end.
        const past = nowMs + lookbackMs + margin;
        expect({ role: spec.role, start: await replayStart(admin, config, spec, 0, past) }).toEqual({
          role: spec.role,
          start: { from: 30, high: 30, coversFromMs: past - lookbackMs },
        });
      }
    } finally {
      await admin.disconnect();
    }
  }, 60_000);
});
