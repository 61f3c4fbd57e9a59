/**
 * `bun run bench consumers`: the three consumer groups on a topic written beforehand.
 *
 *   consumers_tx_per_s    records per second from the first script call of any group until every
 *                         group has committed the last record (a group commits only what Redis
 *                         acknowledged, so then Redis reflects every transaction)
 *   redis_bytes_per_tx    Redis used_memory added by the three groups, per stored transaction
 *                         (index, bodies, dedupe, address state), and its breakdown by group
 *
 * The population is synthetic but realistic (src/consumers/population.ts): 2–4 inputs and
 * outputs, ~280k distinct addresses from a 300k pool with heavy-tailed reuse, event times spread
 * over the last 175 minutes (all in the window). Each group runs as its own process, started
 * as `bun run consumer:<role>` would be.
 *
 * The helpers are exported for an end-to-end bench (simulator -> producer -> consumers).
 */
import Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { join } from "node:path";
import type { Bench, Figure } from "./index.ts";
import { dropNamespace } from "../test/helpers/env.ts";
import { type Config, loadConfig } from "../src/config.ts";
import { syntheticTransactions } from "../src/consumers/population.ts";
import { GROUPS, type GroupRole, groupId } from "../src/kafka/client.ts";
import { addrReceivedKey, keyPrefix, txMinutesKey } from "../src/redis/keys.ts";
import type { Transaction } from "../src/transaction.ts";

const ROLES = Object.keys(GROUPS) as GroupRole[];
const ROOT = join(import.meta.dir, "..");

export interface ConsumerProcesses {
  stop(): Promise<number[]>;
}

/** Starts one process per group (`src/roles/consumer-<role>.ts`) with `env` on top of this process's environment. */
export function startConsumerProcesses(env: Record<string, string>, roles: GroupRole[] = ROLES): ConsumerProcesses {
  const children = roles.map((role) =>
    Bun.spawn([process.execPath, join(ROOT, "src", "roles", `consumer-${role}.ts`)], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdout: "ignore",
      stderr: "inherit",
    }),
  );
  return {
    async stop() {
      for (const c of children) c.kill("SIGTERM");
      return Promise.all(children.map((c) => c.exited));
    },
  };
}

/** Records committed by a group on the topic (sum over partitions). */
export async function committed(kafka: Kafka, config: Config, role: GroupRole): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: groupId(config, role), topics: [config.TOPIC] });
    return (offsets?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Polls until every group has committed `total` records; returns when (unix ms), and when each group got there. */
export async function waitAllCommitted(
  kafka: Kafka,
  config: Config,
  total: number,
  roles: GroupRole[] = ROLES,
  timeoutMs = 600_000,
  finished: Partial<Record<GroupRole, number>> = {},
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(roles.map((r) => committed(kafka, config, r).catch(() => 0)));
    roles.forEach((r, i) => {
      if ((counts[i] ?? 0) >= total) finished[r] ??= Date.now();
    });
    if (counts.every((n) => n >= total)) return Date.now();
    if (Date.now() > deadline) throw new Error(`consumers: only ${counts.join("/")} of ${total} committed after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

export const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? 0);

/** Bytes per key family under the config's prefix (MEMORY USAGE of every key; families by role). */
export async function memoryByGroup(redis: Redis, config: Config): Promise<Record<GroupRole, number>> {
  const out: Record<GroupRole, number> = { counts: 0, addresses: 0, transactions: 0 };
  const prefix = keyPrefix(config);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 2000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of keys) p.memory("USAGE", k, "SAMPLES", "0");
    const replies = (await p.exec()) ?? [];
    keys.forEach((key, i) => {
      const rest = key.slice(prefix.length);
      const role: GroupRole | undefined = rest.startsWith("count:") || rest.startsWith("seen:counts:")
        ? "counts"
        : rest.startsWith("addr:") || rest.startsWith("seen:addresses:")
          ? "addresses"
          : rest.startsWith("tx:") || rest.startsWith("seen:transactions:")
            ? "transactions"
            : undefined;
      if (role) out[role] += Number(replies[i]?.[1] ?? 0);
    });
  } while (cursor !== "0");
  return out;
}

/** Writes transactions with an idempotent producer, partitioned by minute as the producer does. */
export async function writeTransactions(kafka: Kafka, topic: string, txs: readonly Transaction[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const PER_SEND = 1_000;
  for (let i = 0; i < txs.length; i += PER_SEND) {
    await producer.send({
      topic,
      acks: -1,
      messages: txs.slice(i, i + PER_SEND).map((tx) => ({ key: tx.hash, value: JSON.stringify(tx), partition: Math.floor(tx.time / 60) % 3 })),
    });
  }
  await producer.disconnect();
}

const N = Number(process.env.BENCH_CONSUMERS_TX ?? 200_000);

const bench: Bench = {
  name: "consumers",
  async run(): Promise<Record<string, Figure>> {
    const id = Math.random().toString(36).slice(2, 8);
    const env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "",
      REDIS_URL: process.env.REDIS_URL ?? "",
      TOPIC: `bench-consumers-${id}`,
      GROUP_PREFIX: `bench-${id}-`,
      REDIS_PREFIX: `bench-${id}`,
      LOG_LEVEL: "warn",
    };
    const config = loadConfig(env);
    const kafka = new Kafka({ clientId: "bench-consumers", brokers: config.KAFKA_BROKERS.split(","), logLevel: logLevel.NOTHING });
    const redis = new Redis(config.REDIS_URL);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: config.TOPIC, numPartitions: 3 }] });

    const now = Math.floor(Date.now() / 1000);
    console.error(`bench consumers: generating ${N} transactions ...`);
    const txs = syntheticTransactions(N, { seed: 2024, addresses: 300_000, fromSec: now - 175 * 60, toSec: now });
    console.error("bench consumers: writing them to Kafka ...");
    await writeTransactions(kafka, config.TOPIC, txs);

    const before = await usedMemory(redis);
    const processes = startConsumerProcesses(env);
    let firstApplied = 0;
    const metrics = `${keyPrefix(config)}metrics`;
    // The first script call shows in Redis (the address sets, the transaction minutes): the clock
    // starts there, after process start and group join.
    const started = (async () => {
      for (;;) {
        if ((await redis.exists(addrReceivedKey(config), txMinutesKey(config))) > 0) return Date.now();
        await Bun.sleep(20);
      }
    })();
    const finished: Partial<Record<GroupRole, number>> = {};
    const done = await waitAllCommitted(kafka, config, N, ROLES, 600_000, finished);
    firstApplied = await started;
    const seconds = (done - firstApplied) / 1000;
    const after = await usedMemory(redis);
    const groups = await memoryByGroup(redis, config);
    const codes = await processes.stop();
    const applied = await redis.hgetall(metrics);
    const per = ROLES.map((r) => `${r} ${(((finished[r] ?? done) - firstApplied) / 1000).toFixed(1)} s`).join(", ");
    console.error(`bench consumers: ${N} in ${seconds.toFixed(1)} s (${per}); exit codes ${codes.join(",")}; applied ${ROLES.map((r) => applied[`consumer_${r}_applied_total`]).join("/")}`);

    await admin.disconnect();
    await dropNamespace(kafka, redis, config);
    redis.disconnect();

    const perTx = (bytes: number) => Math.round((bytes / N) * 10) / 10;
    return {
      consumers_tx_per_s: {
        value: Math.round(N / seconds),
        unit: "tx/s",
        goal: { op: ">=", value: 20_000 },
        note: `${N} records, 3 partitions, one process per group; from the first script call to the last commit`,
      },
      redis_bytes_per_tx: {
        value: perTx(after - before),
        unit: "B",
        goal: { op: "<=", value: 500 },
        note: "used_memory delta / transactions stored; ~280k distinct addresses",
      },
      redis_bytes_per_tx_counts: { value: perTx(groups.counts), unit: "B", note: "MEMORY USAGE: minute/hour buckets + dedupe" },
      redis_bytes_per_tx_addresses: { value: perTx(groups.addresses), unit: "B", note: "MEMORY USAGE: rolling sets, names, slices, dedupe" },
      redis_bytes_per_tx_transactions: { value: perTx(groups.transactions), unit: "B", note: "MEMORY USAGE: bodies, minutes, dedupe/index" },
    };
  },
};

export default bench;
