/**
 * `bun run bench consumers`: the three consumer groups on a topic written beforehand, into an
 * empty Redis namespace (so each group starts by replaying the log from its first record,
 * src/consumers/positions.ts).
 *
 *   consumers_tx_per_s               records per second from the first position any group set in
 *                                    Redis (the start of its replay) until every group has
 *                                    committed the last record (a group commits only what Redis
 *                                    acknowledged, so then Redis reflects every transaction)
 *   redis_bytes_per_tx               Redis used_memory added by the three groups, per stored
 *                                    transaction
 *   redis_bytes_per_tx_<group>       MEMORY USAGE (SAMPLES 0: every element) summed over the
 *                                    group's keys (`{prefix}:<group>:*`), per stored transaction;
 *                                    the breakdown by key family goes to stderr and the note
 *
 * The population is synthetic but realistic (tools/testkit/population.ts): 2–4 inputs and
 * outputs, ~280k distinct addresses from a 300k pool with heavy-tailed reuse, event times spread
 * over the last 175 minutes (all in the window). Each group runs as its own process, started
 * as `bun run consumer:<role>` would be.
 *
 * The helpers are exported for the end-to-end and replay benches.
 */

import { join } from "node:path";
import Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { type Config, loadConfig } from "../src/domain/config.ts";
import { type GroupRole, ROLES } from "../src/domain/groups.ts";
import type { Transaction } from "../src/domain/transaction.ts";
import { groupId } from "../src/kafka/client.ts";
import { groupKeyPattern, metricsKey, positionKey, seenKey } from "../src/redis/keys.ts";
import { storedTransactionCount } from "../src/redis/read.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import type { Bench, Figure } from "./index.ts";

const ROOT = join(import.meta.dir, "..");

export interface ConsumerProcesses {
  stop(): Promise<number[]>;
}

/** Starts one process per group (`bun src/roles/consumer.ts <role>`) with `env` on top of this process's environment. */
export function startConsumerProcesses(env: Record<string, string>, roles: GroupRole[] = ROLES): ConsumerProcesses {
  const children = roles.map((role) =>
    Bun.spawn([process.execPath, join(ROOT, "src", "roles", "consumer.ts"), role], {
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

/** MEMORY USAGE of one key family of a group: how many keys, their bytes, and the largest key. */
export interface Family {
  keys: number;
  bytes: number;
  largest: { key: string; bytes: number };
}

export interface GroupMemory {
  bytes: number;
  /** By family: the key's name after `{prefix}:<group>:`, with a minute, hour or hash shown as `*`. */
  families: Record<string, Family>;
}

/** The family of a key, from its name after `{prefix}:<group>:`: `received:*`, `minute:*`, `<hash>`, `seen`, ... */
function familyOf(rest: string): string {
  if (/^[0-9a-f]{64}$/.test(rest)) return "<hash>";
  const at = rest.indexOf(":");
  return at < 0 ? rest : `${rest.slice(0, at)}:*`;
}

/** MEMORY USAGE (SAMPLES 0, every element counted) of every key of each group, by key family. */
export async function memoryByGroup(redis: Redis, config: Config, roles: readonly GroupRole[] = ROLES): Promise<Record<GroupRole, GroupMemory>> {
  const out = {} as Record<GroupRole, GroupMemory>;
  for (const role of roles) {
    const group: GroupMemory = { bytes: 0, families: {} };
    const prefix = groupKeyPattern(config, role).slice(0, -1);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", groupKeyPattern(config, role), "COUNT", 2000);
      cursor = next;
      const p = redis.pipeline();
      for (const k of keys) p.memory("USAGE", k, "SAMPLES", "0");
      const replies = (await p.exec()) ?? [];
      keys.forEach((key, i) => {
        const bytes = Number(replies[i]?.[1] ?? 0);
        const name = familyOf(key.slice(prefix.length));
        const f = (group.families[name] ??= { keys: 0, bytes: 0, largest: { key, bytes: 0 } });
        f.keys++;
        f.bytes += bytes;
        if (bytes > f.largest.bytes) f.largest = { key, bytes };
        group.bytes += bytes;
      });
    } while (cursor !== "0");
    out[role] = group;
  }
  return out;
}

/** "received:* 180 keys 310.2 B/tx, received 150.1 B/tx, ..." largest families first. */
export function describeFamilies(memory: GroupMemory, perTx: number): string {
  return Object.entries(memory.families)
    .sort(([, a], [, b]) => b.bytes - a.bytes)
    .filter(([, f]) => f.bytes / perTx >= 0.5)
    .map(([name, f]) => `${name}${f.keys > 1 ? ` (${f.keys.toLocaleString("en-US")} keys)` : ""} ${Math.round(f.bytes / perTx)}`)
    .join(", ");
}

/** A script call Redis logged as slow (SLOWLOG), named from its keys. */
export interface SlowCall {
  script: string;
  ms: number;
}

/** Which script an EVALSHA in the slow log was: from its number of keys and first key (src/redis/scripts.ts). */
function scriptOf(args: string[]): string {
  const [command = "", , numkeys = "", first = ""] = args;
  if (!/^evalsha$|^eval$/i.test(command)) return command.toLowerCase();
  const tail = first.replace(/^\{[^}]*\}:/, "");
  const known: Record<string, string> = {
    "4 counts:minute:": "applyCounts",
    "8 addresses:received": "applyAddresses",
    "6 addresses:received": "advanceAddressWindow",
    "4 transactions:by-time": "applyTransactions",
    "2 transactions:by-time": "trimTransactions",
  };
  return known[`${numkeys} ${tail}`] ?? (tail.endsWith(":position") && numkeys === "2" ? "startReplay" : `script(${numkeys} keys, ${tail})`);
}

/** Empties Redis's slow log and has it keep up to 1024 calls over 10 ms (the default threshold; the bench's own Redis). */
export async function resetSlowLog(redis: Redis): Promise<void> {
  await redis.config("SET", "slowlog-log-slower-than", "10000");
  await redis.config("SET", "slowlog-max-len", "1024");
  await redis.slowlog("RESET");
}

/** The slow log's entries (newest 1024) as script calls. */
export async function slowCalls(redis: Redis): Promise<SlowCall[]> {
  const entries = (await redis.slowlog("GET", 1024)) as [number, number, number, string[]][];
  return entries.map(([, , micros, args]) => ({ script: scriptOf(args.map(String)), ms: micros / 1000 }));
}

/**
 * "applyAddresses 41 over 10 ms, max 2,310 ms; ..." for the `top` entries with the longest call.
 * Redis 7 logs the commands a script runs too (a lone ZINCRBY over 10 ms means Redis was not on
 * a core: the machine's load).
 */
export function describeSlow(calls: readonly SlowCall[], top = 3): string {
  if (!calls.length) return "no call over 10 ms";
  const by = new Map<string, number[]>();
  for (const c of calls) by.set(c.script, [...(by.get(c.script) ?? []), c.ms]);
  return [...by]
    .sort(([, a], [, b]) => Math.max(...b) - Math.max(...a))
    .slice(0, top)
    .map(([script, ms]) => `${script} ${ms.length} over 10 ms, max ${Math.round(Math.max(...ms)).toLocaleString("en-US")} ms`)
    .join("; ");
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
    await resetSlowLog(redis);
    const processes = startConsumerProcesses(env);
    // The clock starts when the first group sets its position in Redis (the start of its replay:
    // lua/startReplay-2.lua), after process start and group join, just before its first apply.
    const started = (async () => {
      const keys = ROLES.map((r) => positionKey(config, r));
      for (;;) {
        if ((await redis.exists(...keys)) > 0) return Date.now();
        await Bun.sleep(20);
      }
    })();
    const finished: Partial<Record<GroupRole, number>> = {};
    const done = await waitAllCommitted(kafka, config, N, ROLES, 600_000, finished);
    const firstApplied = await started;
    const seconds = (done - firstApplied) / 1000;
    const after = await usedMemory(redis);
    const slow = await slowCalls(redis);
    const groups = await memoryByGroup(redis, config);
    const codes = await processes.stop();
    const applied = await redis.hgetall(metricsKey(config));
    const per = ROLES.map((r) => `${r} ${(((finished[r] ?? done) - firstApplied) / 1000).toFixed(1)} s`).join(", ");
    console.error(
      `bench consumers: ${N} in ${seconds.toFixed(1)} s (${per}); exit codes ${codes.join(",")}; applied ${ROLES.map((r) => applied[`consumer_${r}_applied_total`]).join("/")}`,
    );
    console.error(`bench consumers: slow log: ${describeSlow(slow, 20)}`);
    // Each group applied each transaction once (it remembers each hash); a transaction whose minute
    // left the window while the bench ran is no longer stored (so a slow run stores fewer).
    const stored = await storedTransactionCount(redis, config);
    const seen = await Promise.all(ROLES.map((r) => redis.zcard(seenKey(config, r))));
    if (seen.some((n) => n !== N)) throw new Error(`bench consumers: the groups remember ${seen.join("/")} hashes; expected ${N} each`);
    if (stored < N) console.error(`bench consumers: ${N - stored} transactions left the window while the bench ran; ${stored} stored`);
    const held: Record<GroupRole, number> = { counts: N, addresses: N, transactions: stored };

    await admin.disconnect();
    await dropNamespace(kafka, redis, config);
    redis.disconnect();

    const perTx = (bytes: number, n = N) => Math.round((bytes / n) * 10) / 10;
    const summed = ROLES.reduce((s, r) => s + groups[r].bytes, 0);
    for (const r of ROLES) {
      console.error(`bench consumers: ${r}: ${perTx(groups[r].bytes, held[r])} B/tx by MEMORY USAGE; by family (B/tx): ${describeFamilies(groups[r], held[r])}`);
      const largest = Object.entries(groups[r].families).sort(([, a], [, b]) => b.largest.bytes - a.largest.bytes)[0];
      if (largest) console.error(`bench consumers: ${r}: largest key ${largest[1].largest.key} ${largest[1].largest.bytes.toLocaleString("en-US")} B`);
    }
    const groupFigure = (role: GroupRole): Figure => ({
      value: perTx(groups[role].bytes, held[role]),
      unit: "B",
      goal: { op: "<=", value: 2_000 },
      note: `MEMORY USAGE (SAMPLES 0) summed over {prefix}:${role}:* / ${held[role].toLocaleString("en-US")} transactions it holds; by family, B/tx: ${describeFamilies(groups[role], held[role])}`,
    });
    return {
      consumers_tx_per_s: {
        value: Math.round(N / seconds),
        unit: "tx/s",
        goal: { op: ">=", value: 20_000 },
        note: `${N} records, 3 partitions, one process per group, empty Redis (each group replays the log); from the first position set in Redis to the last commit; slow log: ${describeSlow(slow)}`,
      },
      redis_bytes_per_tx: {
        value: perTx(after - before),
        unit: "B",
        goal: { op: "<=", value: 500 },
        note: `used_memory delta, three groups / transactions stored; ~280k distinct addresses; MEMORY USAGE of the groups' keys sums to ${perTx(summed)} B (expiry entries and allocator overhead are not in it)`,
      },
      redis_bytes_per_tx_counts: groupFigure("counts"),
      redis_bytes_per_tx_addresses: groupFigure("addresses"),
      redis_bytes_per_tx_transactions: groupFigure("transactions"),
    };
  },
};

export default bench;
