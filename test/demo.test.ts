/**
 * `bun run demo` supervises its roles: the real demo (tools/demo/main.ts, what `bun run demo`
 * runs) as a child process on this run's Kafka and Redis, in its own namespace. A counts consumer
 * SIGKILLed inside it is started again and back in its group, the restart is counted in the
 * metrics hash, and the figures the demo's API serves are exact; SIGTERM then stops it with exit
 * code 0 and no process left. A role that cannot start stops the demo with exit code 1.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { consumerGroups, groupId } from "../src/kafka/client.ts";
import { spec as counts } from "../src/projections/counts/spec.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { txByTimeKey } from "../src/projections/transactions/keys.ts";
import { metricsKey } from "../src/redis/keys.ts";
import { freePort } from "../tools/infra/process.ts";
import { alive, descendants, startDemo } from "./helpers/demo.ts";
import { testEnv, waitFor } from "./helpers/env.ts";
import { caughtUp } from "./helpers/kafka.ts";

const TRANSACTIONS = 600;

// One namespace per demo (testEnv deletes its topics and keys after the file).
const supervised = testEnv();
const failing = testEnv();

const running: Subprocess[] = [];
afterAll(() => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

describe("bun run demo", () => {
  test("a SIGKILLed counts consumer is restarted, counted, back in its group, and the figures stay exact; SIGTERM leaves nothing", async () => {
    const { config, env, kafka, redis } = supervised;
    const port = freePort();
    const api = `http://localhost:${port}`;
    const demo = startDemo({ ...env, PORT: String(port) }, "demo-supervision", ["--rate", "30", "--count", String(TRANSACTIONS)]);
    running.push(demo.proc);
    const countsGroup = groupId(config, counts);
    const admin = kafka.admin();
    await admin.connect();
    const members = async () => (await admin.describeGroups([countsGroup])).groups[0];
    /** The demo's counts processes, counts-1 ... counts-n (its spec): several, so that one can be killed while the others go on. */
    const processes = counts.processes;
    expect(processes).toBeGreaterThan(1);
    /** Every group of the registry, with its Kafka id (what /health lists). */
    const groups = consumerGroups(config, PROJECTIONS);
    try {
      // Running: every counts member (its spec's processes), transactions flowing into Redis.
      await waitFor("the demo to start counts-2", () => demo.pids("counts-2")[0], 30_000);
      // Its roles run without the JIT, which this test's environment does not set (tools/demo/jit.ts).
      expect({ ...process.env, ...env }.BUN_JSC_useJIT).toBeUndefined();
      expect(readFileSync(`/proc/${demo.pids("counts-2")[0]}/environ`, "utf8").split("\0")).toContain("BUN_JSC_useJIT=false");
      await waitFor(`${processes} members in the counts group`, async () => (await members())?.members.length === processes, 60_000);
      await waitFor("transactions in Redis", async () => (await redis.zcard(txByTimeKey(config))) >= 30, 60_000);

      const killed = demo.pids("counts-2")[0] as number;
      process.kill(killed, "SIGKILL");

      // Started again, and the new process is a member of the group within 30 s.
      const restarted = await waitFor("counts-2 to be started again", () => demo.pids("counts-2")[1], 30_000);
      expect(restarted).not.toBe(killed);
      await waitFor(
        "the restarted counts-2 to be back in its group, the killed one gone",
        async () => {
          const group = await members();
          const ids = group?.members.map((m) => m.clientId) ?? [];
          return group?.state === "Stable" && ids.includes(`consumer-counts-${restarted}`) && !ids.includes(`consumer-counts-${killed}`) && ids.length === processes;
        },
        30_000,
      );
      expect(demo.lines.some((l) => /^demo: counts-2 exited \(signal SIGKILL\); restarting in 0\.5 s/.test(l))).toBe(true);

      // Counted in the metrics hash.
      const metrics = await waitFor("the restart to be counted", async () => {
        const m = await redis.hgetall(metricsKey(config));
        return m.supervisor_restarts_total ? m : undefined;
      });
      expect(metrics.supervisor_restarts_total).toBe("1");
      expect(metrics["supervisor_restarts_counts-2_total"]).toBe("1");
      const last = JSON.parse(metrics.supervisor_last_restart as string);
      expect(last).toEqual({ role: "counts-2", exit: "SIGKILL", at_ms: expect.any(Number) });
      expect(Math.abs(last.at_ms - Date.now())).toBeLessThan(10 * 60_000);

      // Exact: every transaction the simulator sent is stored once, every group has committed the
      // end of the topic, /health says so, and the counts the API serves (the restarted group's
      // work) equal the stored transactions minute by minute.
      const byTime = txByTimeKey(config);
      await waitFor(`all ${TRANSACTIONS} transactions stored`, async () => (await redis.zcard(byTime)) === TRANSACTIONS, 120_000);
      await waitFor(
        "every group to commit the end of the topic",
        () =>
          caughtUp(
            kafka,
            config.TOPIC,
            groups.map((g) => g.group),
          ),
        60_000,
      );
      await waitFor("/health: 200, every group of the registry listed, each with lag 0 (the restarted counts group's included)", async () => {
        const res = await fetch(`${api}/health`);
        const body = (await res.json()) as { kafka: { groups: { role: string; group: string; lag: number | null }[] } };
        const listed = body.kafka.groups.map(({ role, group }) => ({ role, group }));
        return res.status === 200 && Bun.deepEquals(listed, groups) && body.kafka.groups.every((g) => g.lag === 0);
      });

      // The newest transaction's minute must be complete to be shown: up to a minute's wait.
      const [, newest] = await redis.zrevrange(byTime, 0, 0, "WITHSCORES");
      const lastMinute = Math.floor(Number(newest) / 60) * 60;
      type Minutes = { minutes: { start: string; count: number }[] };
      const minutes = await waitFor(
        "/transactions_count_per_minute/0 to total every stored transaction",
        async () => {
          const res = await fetch(`${api}/transactions_count_per_minute/0`);
          const body = (await res.json()) as Minutes;
          const shown = body.minutes.some((m) => Date.parse(m.start) / 1000 === lastMinute);
          return res.status === 200 && shown && body.minutes.reduce((s, m) => s + m.count, 0) === TRANSACTIONS ? body.minutes : undefined;
        },
        100_000,
      );
      for (const m of minutes) {
        const start = Date.parse(m.start) / 1000;
        expect({ minute: m.start, count: m.count }).toEqual({ minute: m.start, count: await redis.zcount(byTime, start, start + 59) });
      }
      expect(await redis.zcard(byTime)).toBe(TRANSACTIONS);
    } finally {
      await admin.disconnect();
    }

    // SIGTERM: exit code 0, no process of the demo left.
    const below = descendants(demo.proc.pid);
    // sim, producer, api, and each group's processes (its spec's).
    expect(below.length).toBeGreaterThanOrEqual(3 + PROJECTIONS.reduce((n, s) => n + s.processes, 0));
    demo.proc.kill("SIGTERM");
    expect(await demo.proc.exited).toBe(0);
    await demo.done;
    await waitFor("every process of the demo to be gone", () => below.every((p) => !alive(p)), 10_000).catch(() => {});
    expect(below.filter(alive)).toEqual([]);
    expect(demo.lines.some((l) => l.startsWith("demo: SIGTERM: stopping roles"))).toBe(true);
  }, 300_000);

  test("a role that fails 5 times in a row within a minute stops the demo with exit code 1 and one line saying why", async () => {
    const { env } = failing;
    // The simulator refuses a bad option at once (exit 2, a fraction of a second): five quick
    // failures whatever the load. (With the API held off its port, a loaded machine once spread
    // its five starts beyond the minute, and the demo rightly kept going.)
    const port = freePort();
    const demo = startDemo({ ...env, PORT: String(port) }, "demo-give-up", ["--rate", "not-a-number"]);
    running.push(demo.proc);
    // Every process below the demo while it runs, to check that none is left.
    const seen = new Map<number, { pid: number; start: string }>();
    const sampler = setInterval(() => {
      for (const p of descendants(demo.proc.pid)) seen.set(p.pid, p);
    }, 100);
    const code = await demo.proc.exited;
    clearInterval(sampler);
    await demo.done;
    expect(code).toBe(1);
    const reasons = demo.lines.filter((l) => l.startsWith("demo: sim failed"));
    expect(reasons.length).toBe(1);
    expect(reasons[0]).toMatch(/^demo: sim failed 5 times in a row within \d+ s \(last: exit code 2\); giving up: stopping roles\.\.\.$/);
    expect(demo.lines.filter((l) => /^demo: sim exited \(exit code 2\); restarting in/.test(l)).map((l) => l.match(/in ([\d.]+) s/)?.[1])).toEqual(["0.5", "1", "2", "4"]);
    // Nothing else was restarted, and whatever had started was stopped with the demo.
    expect(demo.lines.filter((l) => / exited \(/.test(l) && !l.startsWith("demo: sim "))).toEqual([]);
    const below = [...seen.values()];
    expect(below.length).toBeGreaterThanOrEqual(1);
    await waitFor("every process of the demo to be gone", () => below.every((p) => !alive(p)), 10_000).catch(() => {});
    expect(below.filter(alive)).toEqual([]);
  }, 120_000);
});
