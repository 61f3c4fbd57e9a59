/**
 * `bun run bench consumers`: every consumer group of the registry (src/projections/registry.ts)
 * on a topic written beforehand, into an empty Redis namespace (so each group starts by
 * replaying the log from its first record, src/consumers/positions.ts).
 *
 *   consumers_tx_per_s               records per second from the first position any group set in
 *                                    Redis (the start of its replay) until every group has
 *                                    committed the last record (a group commits only what Redis
 *                                    acknowledged, so then Redis reflects every transaction)
 *   consumers_tx_per_s_cluster       the same, measured the same way, on a local cluster started
 *                                    for it and stopped after (tools/infra/cluster.ts, free ports,
 *                                    a temporary folder): 3 KRaft brokers, the topic replicated 3
 *                                    times (min.insync.replicas 2), and a Redis Cluster of 3
 *                                    masters with a replica each (REDIS_URL lists the 6 seeds). The
 *                                    note gives its ratio to the single-Redis figure: on 2 cores
 *                                    it shows the cluster's overhead, not a speed-up. No goal.
 *   redis_busy_ratio                 Redis's main-thread CPU time over the wall time of the
 *                                    consumers_tx_per_s run (INFO cpu: used_cpu_sys_main_thread +
 *                                    used_cpu_user_main_thread, or used_cpu_sys + used_cpu_user on
 *                                    a Redis without them; sampled when the clock starts and when
 *                                    it stops). Near 1, Redis holds the throughput back; well
 *                                    below, the consumers do. No goal. The cluster run's note
 *                                    gives the same for the namespace's master.
 *   redis_bytes_per_tx               Redis used_memory added by every group, per stored
 *                                    transaction; no goal (the groups' figures below have one)
 *   redis_bytes_per_tx_<role>        one per projection of the registry: MEMORY USAGE (SAMPLES 0:
 *                                    every element) summed over the group's keys
 *                                    (`{prefix}:<namespace>:*`), per transaction it holds (those
 *                                    of the records still within its spec's keepSeconds at the
 *                                    end); the breakdown by key family goes to stderr and the note
 *
 * Sizes: BENCH_CONSUMERS_TX records for the single Redis (default 200,000) and
 * BENCH_CONSUMERS_CLUSTER_TX for the cluster (default 100,000, half: at 200,000, starting the
 * cluster, writing with 3 replicas and consuming take over ~3 minutes on 2 cores; 0 skips the
 * cluster run). The bench's deadline (bench/deadline.ts) follows from them:
 * BENCH_CONSUMERS_DEADLINE_S replaces it. On the
 * cluster, the slow log is read on the master serving the namespace's slot (every key of the
 * namespace shares one hash tag); the memory figures are taken on the single Redis only.
 *
 * The population is synthetic but realistic (tools/testkit/population.ts): 2–4 inputs and
 * outputs, ~280k distinct addresses from a 300k pool with heavy-tailed reuse, event times spread
 * over the last 175 minutes (all in the window; a projection that keeps less holds only its
 * part). Each group runs as its own process, started as `bun run consumer <role>` would be. The
 * slow log names each script call from the scripts in lua/ themselves (src/redis/loader.ts).
 *
 * The helpers are exported for the end-to-end and replay benches.
 */

import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { type Config, loadConfig } from "../src/domain/config.ts";
import type { GroupRole, ProjectionSpec } from "../src/domain/projection.ts";
import { WHOLE } from "../src/domain/shards.ts";
import type { Transaction } from "../src/domain/transaction.ts";
import { consumerGroups } from "../src/kafka/client.ts";
import { PROJECTIONS, projectionOf, ROLES } from "../src/projections/registry.ts";
import { connectRedis, redisSeeds } from "../src/redis/connection.ts";
import { groupKeyPattern, keyPrefix, metricsKey, positionKey, seenKey } from "../src/redis/keys.ts";
import { loadScripts } from "../src/redis/loader.ts";
import { startLocalCluster } from "../tools/infra/cluster.ts";
import { diesWithParent, freePort } from "../tools/infra/process.ts";
import { fill } from "../tools/testkit/fill.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import type { Deadline } from "./deadline.ts";
import type { Bench, Figure } from "./index.ts";

const ROOT = join(import.meta.dir, "..");

export interface ConsumerProcesses {
  /** Rejects when a group's process exits before `stop()` (it crashed: the figures would never come). */
  crashed: Promise<never>;
  stop(): Promise<number[]>;
}

/**
 * Starts one process per group (`bun src/roles/consumer.ts <role>`) with `env` on top of this
 * process's environment; they die with this process, so a bench that failed leaves none behind.
 */
export function startConsumerProcesses(env: Record<string, string>, roles: GroupRole[] = ROLES): ConsumerProcesses {
  const children = roles.map((role) =>
    Bun.spawn(diesWithParent([process.execPath, join(ROOT, "src", "roles", "consumer.ts"), role]), {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdout: "ignore",
      stderr: "inherit",
    }),
  );
  let stopping = false;
  const crashed = new Promise<never>((_, reject) => {
    children.forEach((c, i) =>
      c.exited.then((code) => {
        if (!stopping) reject(new Error(`consumer ${roles[i]} exited with code ${code} before the bench stopped it`));
      }),
    );
  });
  crashed.catch(() => {}); // observed only by those who race it
  return {
    crashed,
    async stop() {
      stopping = true;
      for (const c of children) c.kill("SIGTERM");
      return Promise.all(children.map((c) => c.exited));
    },
  };
}

/** The spec of `role` in the registry, or an error naming the roles. */
function specOfRole(role: GroupRole): ProjectionSpec {
  const spec = projectionOf(role);
  if (!spec) throw new Error(`bench: no projection ${JSON.stringify(role)} (the registry has ${ROLES.join(", ")})`);
  return spec;
}

/** Records committed by a group on the topic (sum over partitions; a sharded projection's least committed shard). */
export async function committed(kafka: Kafka, config: Config, role: GroupRole): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const totals = await Promise.all(
      consumerGroups(config, [specOfRole(role)]).map(async ({ group }) => {
        const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [config.TOPIC] });
        return (offsets?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
      }),
    );
    return Math.min(...totals);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Polls until every group has committed `total` records; returns when (unix ms), and puts when
 * each group got there into `finished`. Stops with the bench's deadline.
 */
export async function waitAllCommitted(
  kafka: Kafka,
  config: Config,
  total: number,
  deadline: Deadline,
  { roles = ROLES, finished = {} }: { roles?: GroupRole[]; finished?: Partial<Record<GroupRole, number>> } = {},
): Promise<number> {
  deadline.step(`waiting for every group to commit ${total.toLocaleString("en-US")} records of ${config.TOPIC}`);
  for (;;) {
    const counts = await Promise.all(roles.map((r) => committed(kafka, config, r).catch(() => 0)));
    roles.forEach((r, i) => {
      if ((counts[i] ?? 0) >= total) finished[r] ??= Date.now();
    });
    if (counts.every((n) => n >= total)) return Date.now();
    await deadline.sleep(50);
  }
}

/**
 * Seconds of CPU Redis has used (INFO cpu): its main thread's, where Redis reports them
 * (used_cpu_sys_main_thread + used_cpu_user_main_thread), else the whole process's.
 */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => {
    const m = new RegExp(`^${name}:([0-9.]+)`, "m").exec(info);
    return m ? Number(m[1]) : undefined;
  };
  const [sys, user] = [field("used_cpu_sys_main_thread"), field("used_cpu_user_main_thread")];
  if (sys !== undefined && user !== undefined) return sys + user;
  return (field("used_cpu_sys") ?? 0) + (field("used_cpu_user") ?? 0);
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
export async function memoryByGroup(redis: Redis, config: Config, specs: readonly ProjectionSpec[] = PROJECTIONS): Promise<Record<GroupRole, GroupMemory>> {
  const out: Record<GroupRole, GroupMemory> = {};
  for (const spec of specs) {
    const group: GroupMemory = { bytes: 0, families: {} };
    const prefix = groupKeyPattern(config, spec).slice(0, -1);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", groupKeyPattern(config, spec), "COUNT", 2000);
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
    out[spec.role] = group;
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

/**
 * Every script of lua/ (src/redis/loader.ts), with the SHA1 of its source: ioredis sends a script
 * as EVALSHA of that SHA1, or as EVAL of the source itself when Redis does not have it yet.
 */
const SCRIPTS = loadScripts().map((s) => ({ name: s.name, sha: createHash("sha1").update(s.lua).digest("hex"), lua: s.lua }));

/**
 * Which script an EVALSHA or EVAL in the slow log was: the script of lua/ with that SHA1, or whose
 * source starts with what the slow log kept of it (it cuts an argument after 128 bytes).
 */
function scriptOf(args: string[]): string {
  const [command = "", body = "", numkeys = "", first = ""] = args;
  let known: { name: string } | undefined;
  if (/^evalsha$/i.test(command)) known = SCRIPTS.find((s) => s.sha === body.toLowerCase());
  else if (/^eval$/i.test(command)) {
    const kept = body.replace(/\.\.\. \(\d+ more bytes\)$/, "");
    known = SCRIPTS.find((s) => s.lua.startsWith(kept));
  } else return command.toLowerCase();
  return known?.name ?? `script(${numkeys} keys, ${first.replace(/^\{[^}]*\}:/, "")})`;
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

/**
 * Checks that each group of the registry did with `txs` what its projection says, and returns how
 * many hashes each remembers (its seen set), by role. Each transaction its projection refuses
 * (`apply.refuse`) is a dead letter; each other one is applied once and remembered, unless it was
 * already older than the projection keeps when it came (stale: counted, neither applied nor
 * remembered). A projection that still applies the oldest of `txs` at `atSec` (the end of the
 * run), as its own apply says (tools/testkit/fill.ts, in a scratch namespace dropped after), kept
 * every one of them: none may be stale. Reads the counts from the metrics hash, so call it after
 * the consumers stopped (they flush their metrics as they stop).
 */
export async function checkEveryGroup(who: string, redis: Redis, config: Config, txs: readonly Transaction[], atSec: number): Promise<Record<GroupRole, number>> {
  const metrics = await redis.hgetall(metricsKey(config));
  const keepsAll = await appliesOldest(config, txs, Math.ceil(atSec));
  const remembered: Record<GroupRole, number> = {};
  const wrong: string[] = [];
  for (const projection of PROJECTIONS) {
    const { role, apply } = projection;
    const seen = await redis.zcard(seenKey(config, projection));
    const refused = txs.filter((tx) => (apply.refuse?.(tx) ?? null) !== null).length;
    const metric = (name: string) => Number(metrics[`consumer_${role}_${name}_total`] ?? 0);
    const [stale, dead] = [metric("stale"), metric("dead_letters")];
    remembered[role] = seen;
    if (seen + stale !== txs.length - refused || dead !== refused || (keepsAll[role] && stale > 0))
      wrong.push(
        `${role} remembers ${seen} hashes, found ${stale} records stale and dead-lettered ${dead}; expected ${txs.length - refused} remembered or stale${keepsAll[role] ? " (none stale: it keeps every record)" : ""} and ${refused} dead letters`,
      );
  }
  if (wrong.length) throw new Error(`${who}: ${wrong.join("; ")}`);
  return remembered;
}

/** Whether each projection applies the oldest of `txs` at `atSec` (not stale), by its own apply, in a scratch namespace. */
async function appliesOldest(config: Config, txs: readonly Transaction[], atSec: number): Promise<Record<GroupRole, boolean>> {
  const oldest = txs.reduce((a, b) => (b.time < a.time ? b : a));
  const scratch = { ...config, REDIS_PREFIX: `${config.REDIS_PREFIX}-probe` };
  const redis = connectRedis(config.REDIS_URL, undefined, config);
  try {
    const figures = await fill(redis, scratch, [oldest], { at: atSec });
    return Object.fromEntries(PROJECTIONS.map(({ role }) => [role, figures[role]?.applied === 1 && figures[role]?.stale === 0]));
  } finally {
    for (const projection of PROJECTIONS) await projection.drop(redis, scratch, WHOLE);
    redis.disconnect();
  }
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
const N_CLUSTER = Number(process.env.BENCH_CONSUMERS_CLUSTER_TX ?? 100_000);

/** The plain cluster has no ACL users: nothing logs in as one there. */
const NO_USER = { REDIS_USERNAME: "", REDIS_PASSWORD: "", REDIS_PASSWORD_FILE: "", BTC_REDIS_USERS_DIR: "" };

/**
 * A connection to the one Redis server that holds the namespace: REDIS_URL itself for a
 * single server; for a Redis Cluster (several seeds) the master serving the slot of the
 * namespace's hash tag (every key of `{prefix}:` is in it, src/redis/keys.ts), so that INFO,
 * SLOWLOG, SCAN and MEMORY USAGE see the namespace's keys and the calls that wrote them.
 */
export async function namespaceNode(config: Config): Promise<{ redis: Redis; where: string }> {
  const seeds = redisSeeds(config.REDIS_URL);
  if (seeds.length < 2) return { redis: connectRedis(config.REDIS_URL, undefined, config), where: config.REDIS_URL };
  const seed = new Redis(seeds[0] as string);
  try {
    const slot = Number(await seed.cluster("KEYSLOT", keyPrefix(config)));
    const ranges = await seed.cluster("SLOTS");
    const [host, port] = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2] ?? [];
    if (!host || !port) throw new Error(`bench consumers: no master serves slot ${slot}`);
    return { redis: new Redis({ host, port }), where: `${host}:${port}, slot ${slot}` };
  } finally {
    seed.disconnect();
  }
}

interface Measured {
  seconds: number;
  /** Redis's CPU seconds over the wall seconds of the same interval (redisCpuSeconds). */
  busy: number;
  slow: SlowCall[];
  /** Per group: seconds from the first replay start to its last commit. */
  per: string;
  /** Only when asked for (the single Redis): used_memory before and after, MEMORY USAGE by group, transactions each holds. */
  memory?: { before: number; after: number; groups: Record<GroupRole, GroupMemory>; held: Record<GroupRole, number> };
}

/**
 * The measurement, the same on a single Redis and on the cluster: `n` records written to a new
 * topic (3 partitions, `config.TOPIC_REPLICATION` replicas, acks=all), then one process per group
 * with `env`, timed from the first position any group set in Redis to the last group's commit of
 * the last record. `drop` removes the namespace afterwards (the shared single-node stack).
 */
async function measure(label: string, env: Record<string, string>, n: number, deadline: Deadline, opts: { memory: boolean; drop: boolean }): Promise<Measured> {
  const config = loadConfig(env);
  const unwatch = deadline.watch(`bench consumers${label}`, config);
  const kafka = new Kafka({ clientId: "bench-consumers", brokers: config.KAFKA_BROKERS.split(","), logLevel: logLevel.NOTHING });
  const { redis, where } = await namespaceNode(config);
  const admin = kafka.admin();
  await admin.connect();
  let processes: ConsumerProcesses | undefined;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: config.TOPIC, numPartitions: 3, replicationFactor: config.TOPIC_REPLICATION }],
    });

    const now = Math.floor(Date.now() / 1000);
    deadline.step(`generating ${n} transactions`);
    console.error(`bench consumers${label}: generating ${n} transactions ...`);
    const txs = syntheticTransactions(n, { seed: 2024, addresses: 300_000, fromSec: now - 175 * 60, toSec: now });
    console.error(`bench consumers${label}: writing them to Kafka (${config.TOPIC_REPLICATION} replica${config.TOPIC_REPLICATION > 1 ? "s" : ""}) ...`);
    deadline.step(`writing ${n} transactions to ${config.TOPIC}`);
    const writing = Date.now();
    await writeTransactions(kafka, config.TOPIC, txs);
    console.error(`bench consumers${label}: written in ${((Date.now() - writing) / 1000).toFixed(1)} s`);

    const before = opts.memory ? await usedMemory(redis) : 0;
    await resetSlowLog(redis);
    console.error(`bench consumers${label}: consuming (Redis of the namespace: ${where}) ...`);
    processes = startConsumerProcesses(env);
    // The clock starts when the first group sets its position in Redis (the start of its replay:
    // lua/startReplay-3.lua), after process start and group join, just before its first apply.
    // Redis's CPU time is sampled at the same two moments (redis_busy_ratio).
    const started = (async () => {
      const keys = PROJECTIONS.map((spec) => positionKey(config, spec));
      for (;;) {
        if ((await redis.exists(...keys)) > 0) return { at: Date.now(), cpu: await redisCpuSeconds(redis) };
        await deadline.sleep(20);
      }
    })();
    started.catch(() => {}); // on an early failure, the connection closes under the poll
    const finished: Partial<Record<GroupRole, number>> = {};
    const done = await Promise.race([waitAllCommitted(kafka, config, n, deadline, { finished }), processes.crashed]);
    const cpuDone = await redisCpuSeconds(redis);
    const cpuDoneAt = Date.now();
    const { at: firstApplied, cpu: cpuStarted } = await started;
    const seconds = (done - firstApplied) / 1000;
    const busy = (cpuDone - cpuStarted) / ((cpuDoneAt - firstApplied) / 1000);
    const after = opts.memory ? await usedMemory(redis) : 0;
    const slow = await slowCalls(redis);
    const measuredSec = Date.now() / 1000;
    deadline.step("reading what each group holds (MEMORY USAGE, checks)");
    const groups = opts.memory ? await memoryByGroup(redis, config) : undefined;
    const codes = await processes.stop();
    processes = undefined;
    const applied = await redis.hgetall(metricsKey(config));
    const per = ROLES.map((r) => `${r} ${(((finished[r] ?? done) - firstApplied) / 1000).toFixed(1)} s`).join(", ");
    console.error(
      `bench consumers${label}: ${n} in ${seconds.toFixed(1)} s (${per}); exit codes ${codes.join(",")}; applied ${ROLES.map((r) => applied[`consumer_${r}_applied_total`]).join("/")}`,
    );
    console.error(`bench consumers${label}: slow log: ${describeSlow(slow, 20)}`);
    console.error(`bench consumers${label}: Redis busy ${busy.toFixed(2)} of the wall time (INFO cpu)`);
    // Each group did with each transaction what its projection says (checkEveryGroup). What a
    // group holds at the end is what is still within its keep: a slow run holds fewer.
    const seen = await checkEveryGroup(`bench consumers${label}`, redis, config, txs, measuredSec);
    const held: Record<GroupRole, number> = {};
    PROJECTIONS.forEach((spec) => {
      const within = txs.filter((tx) => tx.time > measuredSec - spec.keepSeconds).length;
      held[spec.role] = Math.min(seen[spec.role] ?? 0, within);
      if (held[spec.role] !== n) console.error(`bench consumers${label}: ${spec.role} holds ${held[spec.role]} of the ${n} transactions (it keeps ${spec.keepSeconds} s)`);
    });
    if (opts.drop) await dropNamespace(kafka, redis, config);
    unwatch();
    return { seconds, busy, slow, per, memory: groups && { before, after, groups, held } };
  } finally {
    await processes?.stop();
    await admin.disconnect();
    redis.disconnect();
  }
}

/** The namespace of one run: its own topic, group ids and Redis prefix. */
function namespace(name: string, cluster: Record<string, string>): Record<string, string> {
  const id = Math.random().toString(36).slice(2, 8);
  return {
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "",
    REDIS_URL: process.env.REDIS_URL ?? "",
    // The user the bench stack's Redis takes (tools/testkit/stack.ts); the cluster's override clears it.
    REDIS_USERNAME: process.env.REDIS_USERNAME ?? "",
    REDIS_PASSWORD_FILE: process.env.REDIS_PASSWORD_FILE ?? "",
    ...cluster,
    // One address group under the deployment's tag on both runs: the same work, and every key of
    // the namespace in one slot (the cluster's slow log is read on that slot's master).
    ADDRESS_SHARDS: "1",
    TOPIC: `${name}-${id}`,
    GROUP_PREFIX: `bench-${id}-`,
    REDIS_PREFIX: `bench-${id}`,
    LOG_LEVEL: "warn",
  };
}

/** The same measurement on a local cluster started here (3 brokers, Redis Cluster of 3 masters + 3 replicas), stopped after. */
async function measureOnCluster(n: number, deadline: Deadline): Promise<{ measured: Measured; startSeconds: number }> {
  const root = mkdtempSync(join(tmpdir(), "bench-cluster-"));
  const t0 = Date.now();
  console.error("bench consumers (cluster): starting 3 Kafka brokers and a Redis Cluster of 6 nodes on free ports ...");
  deadline.step("starting a local cluster");
  const cluster = await startLocalCluster({
    kafkaPorts: [freePort(), freePort(), freePort()],
    redisPorts: Array.from({ length: 6 }, () => freePort()),
    dataDir: root,
    fresh: true,
    log: () => {},
  });
  try {
    const startSeconds = (Date.now() - t0) / 1000;
    console.error(`bench consumers (cluster): ready after ${startSeconds.toFixed(1)} s`);
    // The cluster and its data go away with the run: no namespace to drop.
    // The plain cluster has no ACL users: neither the roles nor the bench log in as one there.
    const measured = await measure(" (cluster)", namespace("bench-consumers-cluster", { ...cluster.env, ...NO_USER }), n, deadline, { memory: false, drop: false });
    return { measured, startSeconds };
  } finally {
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const bench: Bench = {
  name: "consumers",
  // About 10 minutes for the default sizes, 2-3 times a run on a busy 2-core machine: a minute to
  // start, then for each record ~2.5 ms on the single Redis and ~4 ms on the cluster.
  deadlineSeconds: Math.round(60 + N / 400 + (N_CLUSTER > 0 ? 60 + N_CLUSTER / 250 : 0)),
  async run(deadline): Promise<Record<string, Figure>> {
    const single = await measure("", namespace("bench-consumers", {}), N, deadline, { memory: true, drop: true });
    const { seconds, slow, busy } = single;
    const { before, after, groups, held } = single.memory as NonNullable<Measured["memory"]>;

    const perTx = (bytes: number, n = N) => Math.round((bytes / n) * 10) / 10;
    /** Each group's memory and the transactions it holds (every projection of the registry has both). */
    const of = (role: GroupRole) => ({ memory: groups[role] ?? { bytes: 0, families: {} }, held: held[role] ?? 0 });
    const summed = ROLES.reduce((s, r) => s + of(r).memory.bytes, 0);
    for (const r of ROLES) {
      const { memory, held: n } = of(r);
      console.error(`bench consumers: ${r}: ${perTx(memory.bytes, n)} B/tx by MEMORY USAGE; by family (B/tx): ${describeFamilies(memory, n)}`);
      const largest = Object.entries(memory.families).sort(([, a], [, b]) => b.largest.bytes - a.largest.bytes)[0];
      if (largest) console.error(`bench consumers: ${r}: largest key ${largest[1].largest.key} ${largest[1].largest.bytes.toLocaleString("en-US")} B`);
    }
    /** redis_bytes_per_tx_<role>: its spec's memory goal (≤ 2,000 B a transaction it holds when the spec names none). */
    const DEFAULT_BYTES_PER_TX_GOAL = 2_000;
    const groupFigure = (spec: ProjectionSpec): Figure => {
      const { memory, held: n } = of(spec.role);
      return {
        value: perTx(memory.bytes, n),
        unit: "B",
        goal: { op: "<=", value: spec.bytesPerTxGoal ?? DEFAULT_BYTES_PER_TX_GOAL },
        note: `MEMORY USAGE (SAMPLES 0) summed over {prefix}:${spec.namespace}:* / ${n.toLocaleString("en-US")} transactions it holds; by family, B/tx: ${describeFamilies(memory, n)}`,
      };
    };
    const singleRate = Math.round(N / seconds);
    const figures: Record<string, Figure> = {
      consumers_tx_per_s: {
        value: singleRate,
        unit: "tx/s",
        goal: { op: ">=", value: 20_000 },
        note: `${N} records, 3 partitions, one process per group (${ROLES.join(", ")}), empty Redis (each group replays the log); from the first position set in Redis to the last commit; groups ${single.per}; slow log: ${describeSlow(slow)}`,
      },
      redis_busy_ratio: {
        value: Math.round(busy * 100) / 100,
        unit: "",
        note: `Redis's main-thread CPU time (INFO cpu) over the wall time of consumers_tx_per_s (${seconds.toFixed(1)} s): near 1, Redis holds the throughput back; Redis, the ${ROLES.length} groups and Kafka share ${cpus().length} cores`,
      },
    };

    if (N_CLUSTER > 0) {
      const { measured, startSeconds } = await measureOnCluster(N_CLUSTER, deadline);
      const rate = Math.round(N_CLUSTER / measured.seconds);
      const fewer =
        N_CLUSTER < N
          ? ` (fewer than the single run's ${N}, to keep the run within ~3 minutes: BENCH_CONSUMERS_CLUSTER_TX; smaller sets replay faster, so the ratio flatters the cluster)`
          : "";
      figures.consumers_tx_per_s_cluster = {
        value: rate,
        unit: "tx/s",
        note: `as consumers_tx_per_s, on a local cluster started for it (${startSeconds.toFixed(0)} s to start): 3 Kafka brokers (topic RF 3, min.insync.replicas 2, acks=all), Redis Cluster of 3 masters + 3 replicas (every key of the namespace in one slot); ${N_CLUSTER} records${fewer}; ${(rate / singleRate).toFixed(2)}x the single Redis: on two cores this shows the cluster's overhead, not a speed-up (3 brokers, 6 redis-servers and the ${ROLES.length} groups share the 2 cores); groups ${measured.per}; the namespace's master busy ${measured.busy.toFixed(2)} of the wall time; slow log of the namespace's master: ${describeSlow(measured.slow)}`,
      };
    }

    return {
      ...figures,
      redis_bytes_per_tx: {
        value: perTx(after - before),
        unit: "B",
        note: `used_memory delta, every group (${ROLES.join(", ")}) / transactions written; ~280k distinct addresses; MEMORY USAGE of the groups' keys sums to ${perTx(summed)} B (expiry entries and allocator overhead are not in it)`,
      },
      ...Object.fromEntries(PROJECTIONS.map((spec) => [`redis_bytes_per_tx_${spec.role}`, groupFigure(spec)])),
    };
  },
};

export default bench;
