/**
 * `bun run bench replay`: how fast a group replays the log into an empty Redis, as after Redis
 * lost its data or `bun run rebuild` dropped a projection (src/consumers/positions.ts: a
 * group finding no position in Redis replays the log from the first record within its lookback).
 *
 *   replay_tx_per_s   N synthetic transactions are written to a fresh topic first; then every
 *                     group of the registry (src/projections/registry.ts) starts, one process
 *                     each (`bun run consumer <role>`), against a Redis namespace with no key at
 *                     all. Per group, the replay time runs from its first
 *                     replay start in Redis (lua/startReplay-3.lua; after process start and group
 *                     join) until its position is at the end of the log on every partition
 *                     (groupProgress: a position per partition, replayLeft 0, the positions
 *                     summing to the log's end). The figure is N / the slowest group's time; the
 *                     note gives every group's, and the wall time from process start. After it,
 *                     each group must have applied every record once, but those older than its
 *                     projection keeps (stale, counted so; checkEveryGroup), and the stored
 *                     transactions must be every record.
 *
 * Within its deadline (bench/deadline.ts; BENCH_REPLAY_DEADLINE_S replaces it).
 */
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../src/domain/config.ts";
import type { GroupRole } from "../src/domain/projection.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { storedTransactionCount } from "../src/projections/transactions/read.ts";
import { keyPrefix } from "../src/redis/keys.ts";
import { groupProgress, replayLeft, replayTotal } from "../src/redis/read.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import { checkEveryGroup, describeSlow, resetSlowLog, slowCalls, startConsumerProcesses, writeTransactions } from "./consumers.bench.ts";
import type { Bench, Figure } from "./index.ts";
import { benchRedis } from "./live.ts";

const N = Number(process.env.BENCH_REPLAY_TX ?? 50_000);
const PARTITIONS = 3;

interface GroupReplay {
  /** When the group's first replay start showed in Redis (unix ms). */
  started?: number;
  /** When its positions reached the end of the log on every partition (unix ms). */
  done?: number;
  /** Records the replay had to apply (replayTotal). */
  total?: number;
}

const bench: Bench = {
  name: "replay",
  // A few seconds for the default 50,000 records today; at 200 tx/s, two minutes to write and start.
  deadlineSeconds: Math.round(120 + N / 200),
  async run(deadline): Promise<Record<string, Figure>> {
    const id = Math.random().toString(36).slice(2, 8);
    const env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "",
      REDIS_URL: process.env.REDIS_URL ?? "",
      // The user the bench stack's Redis takes (tools/testkit/stack.ts).
      REDIS_USERNAME: process.env.REDIS_USERNAME ?? "",
      REDIS_PASSWORD_FILE: process.env.REDIS_PASSWORD_FILE ?? "",
      TOPIC: `bench-replay-${id}`,
      GROUP_PREFIX: `bench-replay-${id}-`,
      REDIS_PREFIX: `bench-replay-${id}`,
      LOG_LEVEL: "warn",
    };
    const config = loadConfig(env);
    const kafka = new Kafka({ clientId: "bench-replay", brokers: config.KAFKA_BROKERS.split(","), logLevel: logLevel.NOTHING });
    const redis = benchRedis(config.REDIS_URL);
    const unwatch = deadline.watch("bench replay", config);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: config.TOPIC, numPartitions: PARTITIONS }] });
      const now = Math.floor(Date.now() / 1000);
      deadline.step(`generating and writing ${N} transactions`);
      console.error(`bench replay: generating ${N} transactions ...`);
      // The consumers bench's population scaled down: a pool 1.5 times the transactions.
      const txs = syntheticTransactions(N, { seed: 2025, addresses: Math.round(N * 1.5), fromSec: now - 175 * 60, toSec: now });
      console.error("bench replay: writing them to Kafka ...");
      await writeTransactions(kafka, config.TOPIC, txs);
      const ends = await admin.fetchTopicOffsets(config.TOPIC);
      const end = ends.reduce((s, p) => s + Number(p.high), 0);
      if (end !== N) throw new Error(`bench replay: the topic holds ${end} records, expected ${N}`);

      const [, empty] = await redis.scan("0", "MATCH", `${keyPrefix(config)}*`, "COUNT", 1000);
      if (empty.length) throw new Error(`bench replay: the namespace is not empty (${empty[0]})`);

      await resetSlowLog(redis);
      const t0 = Date.now();
      const processes = startConsumerProcesses(env);
      // Each group's replay, in the registry's order.
      const replays: { role: GroupRole; replay: GroupReplay }[] = PROJECTIONS.map((spec) => ({ role: spec.role, replay: {} }));
      try {
        while (replays.some(({ replay }) => replay.done === undefined)) {
          deadline.step(`waiting for every group's positions at the log's end (${end} records); ${JSON.stringify(replays)}`);
          const progress = await Promise.all(PROJECTIONS.map((spec) => groupProgress(redis, config, spec)));
          const at = Date.now();
          replays.forEach(({ replay: r }, i) => {
            const p = progress[i];
            if (!p || r.done !== undefined) return;
            if (r.started === undefined && p.replayUntil.size > 0) r.started = at;
            const positions = [...p.positions.values()].reduce((s, o) => s + o, 0);
            if (p.positions.size === PARTITIONS && replayLeft(p) === 0 && positions >= end) {
              r.done = at;
              r.total = replayTotal(p);
            }
          });
          await Promise.race([deadline.sleep(50), processes.crashed]);
        }
      } finally {
        await processes.stop();
      }
      const slow = await slowCalls(redis);

      // The replay rebuilt every projection: each group did with each transaction what its
      // projection says (applied once, or stale when older than it keeps).
      await checkEveryGroup("bench replay", redis, config, txs, Date.now() / 1000);
      const stored = await storedTransactionCount(redis, config);
      if (stored !== N) throw new Error(`bench replay: ${stored} transactions stored; expected ${N}`);

      const seconds = (r: GroupReplay) => ((r.done ?? 0) - (r.started ?? t0)) / 1000;
      const slowest = replays.reduce((a, b) => (seconds(b.replay) > seconds(a.replay) ? b : a));
      const wall = (Math.max(...replays.map(({ replay }) => replay.done ?? 0)) - t0) / 1000;
      const per = replays.map(({ role, replay }) => `${role} ${Math.round(N / seconds(replay)).toLocaleString("en-US")} tx/s (${seconds(replay).toFixed(1)} s)`).join(", ");
      console.error(`bench replay: ${N} records replayed: ${per}; ${wall.toFixed(1)} s from process start; totals ${replays.map(({ replay }) => replay.total).join("/")}`);
      console.error(`bench replay: slow log: ${describeSlow(slow, 20)}`);
      unwatch();
      return {
        replay_tx_per_s: {
          value: Math.round(N / seconds(slowest.replay)),
          unit: "tx/s",
          note:
            `slowest group (${slowest.role}); ${N} records in Kafka, 3 partitions, one process per group, empty Redis; ` +
            `from the group's replay start to its positions at the log's end: ${per}; ` +
            `${wall.toFixed(1)} s from process start to the last group done; slow log: ${describeSlow(slow)}`,
        },
      };
    } finally {
      await admin.disconnect();
      await dropNamespace(kafka, redis, config);
      redis.disconnect();
    }
  },
};

export default bench;
