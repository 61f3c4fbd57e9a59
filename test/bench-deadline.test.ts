/**
 * Every bench has a deadline (issue 19, item 4; bench/deadline.ts): when it passes, the bench
 * fails with what it saw (the records in Kafka, what each group of the registry committed, what
 * the producer dropped) and stops, instead of waiting for ever. No timings are asserted: a
 * deadline of 1 s on a pipeline that can never finish must fail, whenever it fails.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { waitAllCommitted } from "../bench/consumers.bench.ts";
import { Deadline, DeadlinePassed, deadlineMs } from "../bench/deadline.ts";
import { Metrics } from "../src/domain/metrics.ts";
import { consumerGroups } from "../src/kafka/client.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { metricsKey } from "../src/redis/keys.ts";
import { diesWithParent } from "../tools/infra/process.ts";
import { testEnv } from "./helpers/env.ts";

const { config, kafka, redis } = testEnv();
const ROOT = join(import.meta.dir, "..");

describe("bench deadline", () => {
  test("a bench given a deadline of 1 s on a pipeline that cannot finish fails with its report", async () => {
    // 3 records in Kafka: 1 on partition 0, 2 on partition 1, none on partition 2.
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: config.TOPIC, numPartitions: 3 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: config.TOPIC,
      acks: -1,
      messages: [0, 1, 1].map((partition, i) => ({ key: `k${i}`, value: `v${i}`, partition })),
    });
    await producer.disconnect();
    // The registry's first group committed the 2 records of partition 1; every other group nothing.
    const groups = consumerGroups(config, PROJECTIONS);
    const [first, ...others] = groups;
    if (!first) throw new Error("the registry has no projection");
    await admin.setOffsets({ groupId: first.group, topic: config.TOPIC, partitions: [{ partition: 1, offset: "2" }] });
    await admin.disconnect();
    // The producer dropped 7 and published 3, as it reports them (its metrics, flushed to Redis).
    const metrics = new Metrics();
    metrics.inc("producer_dropped_total", 7);
    metrics.inc("producer_published_total", 3);
    metrics.inc("producer_received_total", 10);
    await metrics.flush(redis, metricsKey(config));

    // A bench waiting for every group to commit 10 records: there are 3, and nothing consumes them.
    let stopped = false;
    const deadline = new Deadline("stuck", deadlineMs("stuck", 600, { BENCH_STUCK_DEADLINE_S: "1" }));
    const failed = await deadline
      .run(async (d) => {
        d.watch("a pipeline that cannot finish", config);
        try {
          return await waitAllCommitted(kafka, config, 10, d);
        } finally {
          stopped = true;
        }
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );

    expect(failed).toBeInstanceOf(DeadlinePassed);
    const { report, message } = failed as DeadlinePassed;
    // The bench's wait ended and its clean-up ran before the run failed.
    expect(stopped).toBe(true);
    expect(deadline.signal.aborted).toBe(true);

    expect(report.bench).toBe("stuck");
    expect(report.seconds).toBe(1);
    expect(report.step).toContain("commit 10 records");
    const [pipeline] = report.pipelines;
    expect(report.pipelines).toHaveLength(1);
    expect(pipeline?.records).toEqual({
      ok: true,
      value: {
        exists: true,
        total: 3,
        partitions: [
          { partition: 0, offset: 1 },
          { partition: 1, offset: 2 },
          { partition: 2, offset: 0 },
        ],
        deadLetters: 0,
      },
    });
    // Every group of the registry, each with what it committed per partition.
    expect(pipeline?.groups.ok).toBe(true);
    const committed = pipeline?.groups.ok ? pipeline.groups.value : [];
    expect(committed.map((g) => g.group)).toEqual(groups.map((g) => g.group));
    expect(committed[0]).toEqual({
      role: first.role,
      group: first.group,
      total: 2,
      partitions: [
        { partition: 0, offset: null },
        { partition: 1, offset: 2 },
        { partition: 2, offset: null },
      ],
    });
    for (const g of committed.slice(1)) expect(g.total).toBe(0);
    expect(pipeline?.producer).toEqual({ ok: true, value: { ran: true, dropped: 7, published: 3, received: 10, bufferMessages: 0, bufferBytes: 0 } });

    // The same as text, the error's message.
    expect(message).toContain("bench stuck: deadline of 1 s passed while waiting for every group to commit 10 records");
    expect(message).toContain("records in Kafka: 3 (by partition 0: 1, 1: 2, 2: 0)");
    expect(message).toContain(`committed by ${first.role} (group ${first.group}): 2 (by partition 0: none, 1: 2, 2: none)`);
    for (const g of others) expect(message).toContain(`committed by ${g.role} (group ${g.group}): nothing`);
    expect(message).toContain("producer: dropped 7, published 3, received 10");
  });

  test("a deadline that does not pass changes nothing: the bench's result, or its own error", async () => {
    const deadline = new Deadline("quick", 60_000);
    expect(await deadline.run(async () => 42)).toBe(42);
    const own = new Error("the bench's own failure");
    expect(await deadline.run(() => Promise.reject(own)).catch((err: unknown) => err)).toBe(own);
    expect(deadline.signal.aborted).toBe(false);
  });

  test("the deadline comes from BENCH_<NAME>_DEADLINE_S, else BENCH_DEADLINE_S, else the bench's own", () => {
    expect(deadlineMs("e2e", 600, {})).toBe(600_000);
    expect(deadlineMs("e2e", 600, { BENCH_DEADLINE_S: "2" })).toBe(2_000);
    expect(deadlineMs("e2e", 600, { BENCH_DEADLINE_S: "2", BENCH_E2E_DEADLINE_S: "0.5" })).toBe(500);
    expect(() => deadlineMs("e2e", 600, { BENCH_DEADLINE_S: "soon" })).toThrow("BENCH_DEADLINE_S=soon");
  });

  test("`bun run bench producer` with a deadline of 1 s ends by itself, exits 1 with the report and writes no results", async () => {
    const before = await Bun.file(join(ROOT, "bench", "results.json")).text();
    const proc = Bun.spawn(diesWithParent([process.execPath, join(ROOT, "bench", "index.ts"), "producer"]), {
      cwd: ROOT,
      env: { ...process.env, BENCH_DEADLINE_S: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(1);
    expect(stderr).toContain("bench producer: deadline of 1 s passed");
    expect(stderr).toMatch(/records in Kafka: /);
    for (const { role } of consumerGroups(config, PROJECTIONS)) expect(stderr).toContain(`committed by ${role} (group `);
    expect(stderr).toMatch(/producer: dropped \d+/);
    expect(stderr).toContain("no results written");
    expect(await Bun.file(join(ROOT, "bench", "results.json")).text()).toBe(before);
  }, 180_000);
});
