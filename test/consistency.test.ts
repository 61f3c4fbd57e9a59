/**
 * A consistency checker on live reads (issue 17): every data answer is exact or flagged, while
 * the faults of a long day happen in turn on ONE pipeline (a broker and a redis-server of this
 * file's own, so the broker can be restarted and Redis flushed): FLUSHALL; a rebuild of each
 * group; a consumer SIGKILLed and restarted; one SIGSTOPped for 15 s, then continued; the broker
 * stopped and started; the producer replaced by one whose clock is 15 minutes ahead.
 *
 * The simulator feeds 50 transactions a second all along, routed by hash (PARTITIONER=hash) so
 * every partition, and so every consumer, has work: a fault to any of them shows. The API runs
 * in this process (`createApp`, real clock, no answer cache), and a client polls it: every
 * 200 ms, /transactions_count_per_minute/0, /high_value_addr?side=received&limit=1000, the same
 * with side=sent, and /show_transactions/?limit=300 (test/helpers/checker.ts).
 *
 * Each answer is judged by the independent computation (test/helpers/expected.ts) over two
 * prefixes of the frames the simulator delivered: LOWER, those delivered more than L =
 * LATENESS_MS (5 s, src/domain/coverage.ts) before the request was sent; UPPER, all those
 * delivered before the answer came back. An answer that says `complete: true` must satisfy:
 *   - /transactions_count_per_minute: every minute marked complete has LOWER's count and value
 *     for that minute <= its count and value <= UPPER's; the answer marked complete has every
 *     minute marked complete.
 *   - /high_value_addr (each side), marked complete: every listed total lies between the
 *     address's LOWER and UPPER totals; and no address is missing whose LOWER total exceeds the
 *     list's lowest total (the list is full: 1000), or is above 0 (a shorter list).
 *   - /show_transactions/, marked complete: every listed transaction was delivered (in UPPER)
 *     and is listed as delivered (time, value, fee, inputs, outputs); and no transaction of
 *     LOWER is missing that comes before the last listed one in the list's order (newest first,
 *     equal times by hash, descending), or at all when fewer than the limit are listed.
 *   - every answer: the header X-Complete says what the body's `complete` says.
 * An answer that says complete: false is counted as flagged, not checked; a status other than
 * 200 is counted as unavailable (a 503 is honest). A 200 that claims complete and is wrong fails
 * the test of the phase it was taken in, printing the answer's errors with the expected figures.
 *
 * Steady state: each fault is over when every group is stable with exactly its live processes
 * as members and every endpoint has answered complete once since; then the client polls for
 * STEADY_MS more before the next fault. Of the answers of those steady windows (and of the
 * baseline), at least 99% must say complete. No timing is asserted: every wait has a deadline
 * and only fails the test when the pipeline never gets there.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import type { GroupRole } from "../src/domain/projection.ts";
import { consumerGroups } from "../src/kafka/client.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf, ROLES } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { type LocalKafka, startKafka } from "../tools/infra/kafka.ts";
import type { Child } from "../tools/infra/process.ts";
import { freePort } from "../tools/infra/process.ts";
import { type LocalRedis, startRedis } from "../tools/infra/redis.ts";
import { type Simulator, startSimulator } from "../tools/sim/server.ts";
import { testStack } from "../tools/testkit/stack.ts";
import { type Answer, Deliveries, Poller } from "./helpers/checker.ts";
import { bounded, processGone, roleEnv, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(120_000);

const ROOT = join(import.meta.dir, "..");
/** How long the client polls a pipeline at rest after each fault (and before the first). */
const STEADY_MS = 5_000;
const root = mkdtempSync(join(tmpdir(), "consistency-"));
const deliveries = new Deliveries();
let kafka: LocalKafka;
let redis: LocalRedis;
let p: Pipeline;
let sim: Simulator;
let apiRedis: Redis;
let admin: Redis;
let poller: Poller;
/** The role processes this file started (the Pipeline spawns them), by role. */
const children: { role: "producer" | GroupRole; child: Child }[] = [];

/** Alive for Bun and for the kernel (test/helpers/env.ts processGone). */
const alive = (c: Child) => c.proc.exitCode === null && c.proc.signalCode === null && !processGone(c.proc.pid);
const live = (role: "producer" | GroupRole) => children.filter((c) => c.role === role && alive(c.child)).map((c) => c.child);

function spawn(role: "producer" | GroupRole, extra: Record<string, string> = {}, bunArgs: string[] = []): Child {
  const child = p.spawn(role === "producer" ? "producer" : `consumer-${role}`, { FEED_URL: sim.url, ...extra }, bunArgs);
  children.push({ role, child });
  return child;
}

beforeAll(async () => {
  [kafka, redis] = await Promise.all([
    startKafka({ ports: [freePort()], dataDir: join(root, "kafka"), log: () => {}, heap: "512m" }),
    startRedis({ port: freePort(), dataDir: join(root, "redis"), persist: false, aclFile: testStack().aclFile }),
  ]);
  const env = { KAFKA_BROKERS: kafka.brokers, REDIS_URL: redis.url, LOG_LEVEL: "warn", PARTITIONER: "hash" };
  const config = loadConfig(env);
  const client = new Kafka({ clientId: "consistency-test", brokers: [kafka.brokers], logLevel: logLevel.NOTHING });
  p = new Pipeline({ config, env, kafka: client }, "consistency");
  admin = connectRedis(redis.url);
  sim = await startSimulator({ port: 0, rate: 50, seed: 1717 }, undefined, deliveries.record);
  spawn("producer");
  for (const { role, processes } of PROJECTIONS) for (let i = 0; i < processes; i++) spawn(role);
  // The API as users get it: the real clock, but every request read from Redis (no answer cache).
  apiRedis = connectRedis(config.REDIS_URL);
  const app = createApp({
    config,
    redis: apiRedis,
    kafka: new KafkaProbe(client.admin(), config.TOPIC, []),
    projections: PROJECTIONS,
    log: createLogger("api", { ...config, LOG_LEVEL: "error" }),
    fresh: { shared: false },
  });
  poller = new Poller((req) => app.handle(req), deliveries);
  await waitFor("100 frames delivered", () => deliveries.length > 100, 60_000);
  poller.start();
}, 120_000);

afterAll(async () => {
  await bounded("stopping the client", () => poller?.stop());
  await bounded("stopping the simulator", () => sim?.stop(), 5_000);
  await bounded("stopping the pipeline", () => p?.stop(), 40_000);
  apiRedis?.disconnect();
  admin?.disconnect();
  await Promise.all([bounded("stopping the broker", () => kafka?.stop()), bounded("stopping redis-server", () => redis?.stop())]);
  rmSync(root, { recursive: true, force: true });
});

/** Every group (each shard's, of a sharded one) Stable, its members exactly its live processes (a killed one gone, a restarted one in). */
async function groupsStable(): Promise<boolean> {
  const kafkaAdmin = p.env.kafka.admin();
  await kafkaAdmin.connect();
  try {
    const every = consumerGroups(p.env.config, PROJECTIONS);
    const { groups } = await kafkaAdmin.describeGroups(every.map((c) => c.group));
    return every.every(({ role, group }) => {
      const g = groups.find((x) => x.groupId === group);
      const want = live(role)
        .map((c) => `consumer-${role}-${c.proc.pid}`)
        .sort();
      return g?.state === "Stable" && Bun.deepEquals(g.members.map((m) => m.clientId).sort(), want);
    });
  } finally {
    await kafkaAdmin.disconnect();
  }
}

/**
 * Runs a fault with the client's answers labelled by it, waits for the pipeline to be at rest
 * again (groups stable, every endpoint answered complete once since), then polls a steady
 * window; fails when an answer of either claims complete and is wrong.
 */
async function phase(name: string, fault: () => Promise<unknown>): Promise<void> {
  poller.phase = name;
  poller.steady = false;
  await fault();
  await waitFor(`every group stable with its live processes after ${name}`, groupsStable, 90_000);
  const since = Date.now();
  await waitFor(`every endpoint to answer complete after ${name}`, () => poller.cleared(since), 90_000);
  poller.phase = `steady after ${name}`;
  poller.steady = true;
  await Bun.sleep(STEADY_MS);
  poller.steady = false;
  expectRight(name);
}

/** Answers up to this index have been judged by a test. */
let judged = 0;

/** Fails when an answer since the last call claims complete and is wrong (one still in flight is judged by the next call). */
function expectRight(name: string): void {
  const taken = poller.answers.slice(judged);
  judged += taken.length;
  console.log(`${name}: ${line(taken)}`);
  const wrong = taken.filter((a) => a.errors.length);
  if (wrong.length) console.error(`${name}: ${wrong.length} answers wrong:\n  ${Poller.describe(wrong)}`);
  expect(wrong.map((a) => `${a.endpoint} (${a.phase}): ${a.errors[0]}`)).toEqual([]);
}

const line = (answers: Answer[]) => {
  const flagged = answers.filter((a) => a.status === 200 && !a.complete);
  const reasons = new Map<string, number>();
  for (const a of flagged) reasons.set(`${a.endpoint} ${a.reason}`, (reasons.get(`${a.endpoint} ${a.reason}`) ?? 0) + 1);
  return (
    `${answers.length} answers checked, ${flagged.length} flagged incomplete${reasons.size ? ` (${[...reasons].map(([r, n]) => `${r}: ${n}`).join(", ")})` : ""}, ` +
    `${answers.filter((a) => a.status !== 200).length} unavailable, ${answers.filter((a) => a.errors.length).length} wrong`
  );
};

function summary(answers: Answer[]): string {
  const steady = answers.filter((a) => a.steady);
  const complete = steady.filter((a) => a.status === 200 && a.complete).length;
  return `consistency: ${line(answers)}; steady state: ${complete} of ${steady.length} complete; ${deliveries.length} transactions delivered`;
}

/** Waits (bounded) for a process to exit. */
const exited = (c: Child, ms = 30_000) => waitFor(`${c.name} to exit`, () => !alive(c), ms);

describe("live reads are exact or flagged while faults happen in turn", () => {
  test("baseline: the running pipeline", async () => {
    await phase("baseline", async () => {});
  });

  test("FLUSHALL", async () => {
    await phase("FLUSHALL", () => admin.flushall());
  });

  for (const role of ROLES) {
    test(`a rebuild of the ${role} group (bun src/roles/rebuild.ts --group ${role})`, async () => {
      await phase(`rebuild ${role}`, async () => {
        const child = Bun.spawn([process.execPath, join(ROOT, "src", "roles", "rebuild.ts"), "--group", role], {
          cwd: ROOT,
          env: { ...process.env, ...p.env.env, ...roleEnv("rebuild"), LOG_LEVEL: "error" },
          stdout: "ignore",
          stderr: "pipe",
        });
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        const [code, err] = await Promise.all([child.exited, new Response(child.stderr).text()]);
        clearTimeout(timer);
        if (code !== 0) console.error(`rebuild --group ${role} exited ${code}: ${err}`);
        expect(code).toBe(0);
      });
    });
  }

  test("a counts consumer SIGKILLed, then restarted", async () => {
    const { role } = projectionOf("counts") as Projection;
    await phase("SIGKILL", async () => {
      const victim = live(role)[0] as Child;
      victim.proc.kill("SIGKILL");
      await exited(victim);
      await Bun.sleep(2_000);
      spawn(role);
    });
  });

  test("the transactions consumer SIGSTOPped for 15 s, then continued", async () => {
    const { role } = projectionOf("transactions") as Projection;
    await phase("SIGSTOP", async () => {
      const victim = live(role)[0] as Child;
      victim.proc.kill("SIGSTOP");
      try {
        await Bun.sleep(15_000);
      } finally {
        victim.proc.kill("SIGCONT");
      }
      expect(alive(victim)).toBe(true);
    });
  });

  test("the Kafka broker stopped and started again", async () => {
    await phase("broker restart", async () => {
      await kafka.stopNode(1);
      await Bun.sleep(5_000);
      await kafka.startNode(1);
    });
  });

  test("the producer replaced by one whose clock is 15 minutes ahead", async () => {
    let skewed: Child | undefined;
    await phase("producer clock +15 min", async () => {
      const [old] = live("producer");
      skewed = spawn("producer", { CLOCK_SKEW_MS: "900000" }, ["--preload", join(import.meta.dir, "helpers", "skewed-clock.ts")]);
      // Both read the feed for a while (once by hash), then the old one goes: the new one alone publishes.
      await Bun.sleep(3_000);
      await old?.stop(10_000);
    });
    const log = join(ROOT, "test", "artifacts", `consistency-${skewed?.name}.log`);
    expect(existsSync(log) && readFileSync(log, "utf8")).toMatch(/skewed clock: 900000 ms/);
    expect(live("producer")).toEqual([skewed as Child]);
  });

  test("the answers still in flight at the end", async () => {
    await poller.stop();
    expectRight("the last answers");
  });

  test("at least 99% of the steady-state answers say complete", () => {
    const steady = poller.answers.filter((a) => a.steady);
    const complete = steady.filter((a) => a.status === 200 && a.complete);
    console.log(summary(poller.answers));
    expect(steady.length).toBeGreaterThan(100);
    expect(complete.length / steady.length).toBeGreaterThanOrEqual(0.99);
  });
});
