/**
 * /health per partition (issue 17, item 3), through `app.handle` against the run-wide real Kafka
 * and Redis: positions planted in Redis by hand, the log's ends real, the stall clock driven by the
 * test. One partition of three stops while the other two move: 503 naming group, shard and
 * partition. A partition whose consumer recorded an error: 503 naming the error (the key).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { DEFAULT_STALL_MS } from "../src/api/health/service.ts";
import { loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import { shardsOf } from "../src/domain/projection.ts";
import { consumerGroups, groupId } from "../src/kafka/client.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { plant } from "./helpers/coverage.ts";
import { testEnv, waitFor } from "./helpers/env.ts";

const { config, env, kafka, redis } = testEnv();
const log = createLogger("health-partitions-test", { ...config, LOG_LEVEL: "error" });
const apiRedis = connectRedis(config.REDIS_URL);
const probes: KafkaProbe[] = [];
afterAll(async () => {
  for (const p of probes) await p.close();
  apiRedis.disconnect();
});

/** An app whose /health watches `cfg`'s groups, with a stall clock the test moves. */
function healthApp(cfg = config) {
  const probe = new KafkaProbe(kafka.admin({ retry: { retries: 1 } }), cfg.TOPIC, consumerGroups(cfg, PROJECTIONS));
  probes.push(probe);
  const clock = { ms: 0 };
  const app = createApp({ config: cfg, redis: apiRedis, kafka: probe, projections: PROJECTIONS, log, fresh: { shared: false }, health: { monotonic: () => clock.ms } });
  return { app, clock };
}

interface Partition {
  partition: number;
  shard: number;
  position: number | null;
  end: number | null;
  lag: number | null;
  unmoved_seconds: number | null;
  state: string;
  error?: string;
}
interface Body {
  status: string;
  reasons: string[];
  kafka: { ok: boolean; topic_exists: boolean };
  groups: { role: string; group: string; state: string; partitions: Partition[] }[];
}
const health = async (app: ReturnType<typeof healthApp>["app"]) => {
  const res = await app.handle(new Request("http://localhost/health"));
  return { status: res.status, body: (await res.json()) as Body };
};
/** The first answer with Kafka's part in (the probe's first look can miss on a loaded machine). */
const withKafka = (app: ReturnType<typeof healthApp>["app"]) =>
  waitFor(
    "Kafka in /health",
    async () => {
      const h = await health(app);
      return h.body.kafka.ok && h.body.kafka.topic_exists ? h : undefined;
    },
    20_000,
  );

beforeAll(async () => {
  // Three partitions of five records each: every log ends at 5.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: config.TOPIC, numPartitions: 3 }], waitForLeaders: true, timeout: 30_000 });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: config.TOPIC, messages: [0, 1, 2].flatMap((partition) => Array.from({ length: 5 }, () => ({ partition, value: "x" }))) });
  await producer.disconnect();
}, 40_000);

describe("/health per partition", () => {
  test("one partition of three stops while the other two move: 503 naming group, shard and partition", async () => {
    const { app, clock } = healthApp();
    const counts = projectionOf("counts") as Projection;
    const group = groupId(config, counts);
    await plant(redis, config, counts, [{ position: 1 }, { position: 1 }, { position: 1 }]);
    const first = await withKafka(app);
    const ofCounts = () => first.body.groups.find((g) => g.role === counts.role);
    expect(ofCounts()?.partitions).toEqual([0, 1, 2].map((partition) => ({ partition, shard: 0, position: 1, end: 5, lag: 4, unmoved_seconds: 0, state: "ok" })));

    // Partitions 0 and 1 move twice; partition 2 stays at 1, with lag, past the stall bound.
    clock.ms = DEFAULT_STALL_MS / 2;
    await plant(redis, config, counts, [{ position: 2 }, { position: 2 }]);
    // Only this group's partitions are planted: the other groups (no position, everything to apply) stall too.
    const ofGroup = (reasons: string[]) => reasons.filter((r) => r.startsWith(`group ${group} `) && r.includes("partition"));
    expect(ofGroup((await health(app)).body.reasons)).toEqual([]);
    clock.ms = DEFAULT_STALL_MS + 1_000;
    await plant(redis, config, counts, [{ position: 3 }, { position: 3 }]);
    const { status, body } = await health(app);
    expect(status).toBe(503);
    expect(ofGroup(body.reasons)).toEqual([`group ${group} (${counts.role}), shard 0, partition 2: stalled, position 1, log end 5 (4 records behind), unmoved for 31 s`]);
    const g = body.groups.find((x) => x.role === counts.role);
    expect(g?.partitions.map((p) => [p.partition, p.position, p.state, p.unmoved_seconds])).toEqual([
      [0, 3, "ok", 0],
      [1, 3, "ok", 0],
      [2, 1, "stalled", 31],
    ]);
    // The group has no member here (no consumer runs), which /health names first; its partitions are judged all the same.
    expect(g?.state).toBe("no_member");

    // Every partition reaches the log's end: no lag, nothing stalled however long it stays.
    await plant(redis, config, counts, [{ position: 5 }, { position: 5 }, { position: 5 }]);
    clock.ms += 60_000;
    const level = await health(app);
    expect(ofGroup(level.body.reasons)).toEqual([]);
    expect(level.body.groups.find((x) => x.role === counts.role)?.partitions[2]).toMatchObject({ position: 5, lag: 0, unmoved_seconds: null, state: "ok" });
  });

  test("a partition whose consumer cannot apply: 503 naming group, shard, partition and the key of the wrong type", async () => {
    const { app } = healthApp();
    const transactions = projectionOf("transactions") as Projection;
    const group = groupId(config, transactions);
    const error = `key {${config.REDIS_PREFIX}}:${transactions.namespace}:tx:abc holds the wrong type`;
    await plant(redis, config, transactions, [{ position: 5 }, { position: 5, error }, { position: 5 }]);
    const { status, body } = await withKafka(app);
    expect(status).toBe(503);
    expect(body.reasons).toContain(`group ${group} (${transactions.role}), shard 0, partition 1: cannot apply its records: ${error}`);
    const g = body.groups.find((x) => x.role === transactions.role);
    expect(g?.partitions[1]).toMatchObject({ partition: 1, state: "error", error });
    expect(g?.partitions.filter((p) => p.state === "error")).toHaveLength(1);
  });

  test("the address projection in shards: each shard's group judged on its own shard's positions", async () => {
    const addresses = projectionOf("addresses") as Projection;
    const sharded = loadConfig({ ...env, ADDRESS_SHARDS: "2" });
    const { app, clock } = healthApp(sharded);
    const [s0, s1] = shardsOf(addresses, sharded);
    await plant(redis, sharded, addresses, [{ position: 5 }, { position: 5 }, { position: 5 }], s0);
    await plant(redis, sharded, addresses, [{ position: 5 }, { position: 2 }, { position: 5 }], s1);
    await withKafka(app);
    clock.ms = DEFAULT_STALL_MS;
    const { body } = await health(app);
    const group = groupId(sharded, addresses, s1);
    expect(body.reasons.filter((r) => r.startsWith("group ") && r.includes(` (${addresses.role}), `))).toEqual([
      `group ${group} (${addresses.role}), shard 1, partition 1: stalled, position 2, log end 5 (3 records behind), unmoved for 30 s`,
    ]);
    const shard0 = body.groups.find((g) => g.group === groupId(sharded, addresses, s0));
    expect(shard0?.partitions.map((p) => [p.shard, p.lag, p.state])).toEqual([
      [0, 0, "ok"],
      [0, 0, "ok"],
      [0, 0, "ok"],
    ]);
  });
});
