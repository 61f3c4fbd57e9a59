/**
 * `bun run bench drop`: how long the longest Redis call of a rebuild's drop runs (issue 17, item 5).
 *
 *   drop_max_call_ms   1,000,000 stored transactions (TX_CAP's default) are written straight into
 *                      a fresh namespace (tools/testkit/store.ts), with what the other groups keep
 *                      for as many: 1,000,000 hashes in the seen set of every projection of the
 *                      registry, 1,000,000 addresses in each address total, 180 minute sets of
 *                      2,000 addresses a side, the counts' minute and hour buckets. Then every
 *                      projection of the registry is dropped as `bun run rebuild` drops it
 *                      (src/rebuild/rebuild.ts: each projection's own `drop`, a few short calls;
 *                      the transactions projection sets its bodies aside in one and deletes
 *                      them DROP_BUDGET a call). The figure is the longest script call in Redis's slow
 *                      log (logging every command meanwhile); the note gives the calls, the
 *                      longest round trip timed by the client, and a read (/show_transactions'
 *                      latest 10) issued between every two calls.
 *
 * Within its deadline (bench/deadline.ts; BENCH_DROP_DEADLINE_S replaces it). No Kafka and no
 * producer here: its report gives the step it was at.
 */
import { cpus, loadavg } from "node:os";
import type Redis from "ioredis";
import { loadConfig } from "../src/domain/config.ts";
import { type ProjectionSpec, shardsOf } from "../src/domain/projection.ts";
import { WINDOW_MINUTES } from "../src/domain/window.ts";
import { addressKeys } from "../src/projections/addresses/keys.ts";
import { countsHourKey, countsMinuteKey } from "../src/projections/counts/keys.ts";
import { HOUR_BUCKET_KEEP_SECONDS, MINUTE_BUCKET_KEEP_SECONDS } from "../src/projections/counts/spec.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { DROP_BUDGET } from "../src/projections/transactions/drop.ts";
import { latestTransactions, storedTransactionCount } from "../src/projections/transactions/read.ts";
import { keyPrefix, seenKey, versionKey } from "../src/redis/keys.ts";
import { defineScripts } from "../src/redis/loader.ts";
import { fillStore, storedHash } from "../tools/testkit/store.ts";
import type { Bench, Figure } from "./index.ts";
import { benchRedis } from "./live.ts";

const N = Number(process.env.BENCH_DROP_TX ?? 1_000_000);
const GOAL_MS = 50;

/** The slow log's script calls (EVAL/EVALSHA) and their duration in ms, the first key naming the script's group. */
async function scriptCalls(redis: Redis): Promise<{ key: string; ms: number }[]> {
  const entries = (await redis.slowlog("GET", -1)) as [number, number, number, (string | Buffer)[]][];
  return entries.filter(([, , , args]) => /^evalsha$|^eval$/i.test(String(args[0]))).map(([, , micros, args]) => ({ key: String(args[3] ?? ""), ms: micros / 1000 }));
}

const bench: Bench = {
  name: "drop",
  // Filling 1,000,000 transactions and dropping them take about a minute today.
  deadlineSeconds: Math.round(120 + N / 2_000),
  async run(deadline): Promise<Record<string, Figure>> {
    const id = Math.random().toString(36).slice(2, 8);
    const config = loadConfig({ KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "", REDIS_URL: process.env.REDIS_URL ?? "", REDIS_PREFIX: `bench-drop-${id}`, LOG_LEVEL: "warn" });
    const redis = defineScripts(benchRedis(config.REDIS_URL));
    const reader = benchRedis(config.REDIS_URL);
    const unwatch = deadline.watch("bench drop", config);
    try {
      const [sec] = await redis.time();
      const now = Number(sec);
      deadline.step(`storing ${N.toLocaleString("en-US")} transactions`);
      console.error(`bench drop: storing ${N.toLocaleString("en-US")} transactions ...`);
      await fillStore(redis, config, N, now - N, 4 * 3600);
      deadline.step("writing the other groups' keys for as many");
      console.error("bench drop: the other groups' keys for as many ...");
      // Every projection's seen set holds the N hashes (the store's own has them already).
      const unseen: ProjectionSpec[] = [];
      for (const spec of PROJECTIONS) if ((await redis.zcard(seenKey(config, spec))) < N) unseen.push(spec);
      const addr = addressKeys(config);
      const minute = now - (now % 60);
      for (let from = 0; from < N; from += 5_000) {
        const p = redis.pipeline();
        const hashes: (string | number)[] = [];
        const addresses: (string | number)[] = [];
        for (let i = from; i < Math.min(from + 5_000, N); i++) {
          hashes.push(now, storedHash(i));
          addresses.push(i + 1, `addr-${i}`);
        }
        for (const spec of unseen) p.zadd(seenKey(config, spec), ...hashes);
        p.zadd(addr.total("received"), ...addresses);
        p.zadd(addr.total("sent"), ...addresses);
        await p.exec();
        deadline.step(`filling the other groups' keys (${from.toLocaleString("en-US")} of ${N.toLocaleString("en-US")})`);
        deadline.check();
      }
      for (let m = 0; m < WINDOW_MINUTES; m++) {
        const p = redis.pipeline();
        const at = minute - m * 60;
        const members: (string | number)[] = [];
        for (let i = 0; i < 2_000; i++) members.push(i + 1, `addr-${m * 2_000 + i}`);
        p.zadd(addr.minutePrefix("received") + at, ...members);
        p.zadd(addr.minutePrefix("sent") + at, ...members);
        p.zadd(addr.minutes, at, at);
        await p.exec();
      }
      await redis.set(addr.window, minute - (WINDOW_MINUTES - 1) * 60);
      const p = redis.pipeline();
      // With their TTLs, as the counts group writes them: the drop finds them from the clock.
      for (let m = minute - MINUTE_BUCKET_KEEP_SECONDS + 60; m <= minute; m += 60) {
        p.hset(countsMinuteKey(config, m), { count: 100, value: 1_000_000 });
        p.expireat(countsMinuteKey(config, m), m + MINUTE_BUCKET_KEEP_SECONDS);
      }
      for (let h = now - (now % 3600) - 24 * 3600; h <= now; h += 3600) {
        p.hset(countsHourKey(config, h), { count: 6_000, value: 60_000_000 });
        p.expireat(countsHourKey(config, h), h + HOUR_BUCKET_KEEP_SECONDS);
      }
      await p.exec();
      if ((await storedTransactionCount(redis, config)) !== N) throw new Error(`bench drop: ${await storedTransactionCount(redis, config)} stored, expected ${N}`);

      // Every command from here on is logged with its duration (the bench's own Redis).
      await redis.config("SET", "slowlog-log-slower-than", "0");
      await redis.config("SET", "slowlog-max-len", "1000000");
      await redis.slowlog("RESET");
      console.error(`bench drop: dropping every group (${PROJECTIONS.map((s) => s.role).join(", ")}) ...`);
      let calls = 0;
      let reads = 0;
      let maxRoundTrip = 0;
      let last = performance.now();
      const t0 = Date.now();
      for (const projection of PROJECTIONS) {
        for (const shard of shardsOf(projection, config)) {
          await projection.drop(redis, config, shard, async () => {
            // Between two calls of the drop: the call just answered, then what the API would read.
            const at = performance.now();
            maxRoundTrip = Math.max(maxRoundTrip, at - last);
            calls++;
            await latestTransactions(reader, config, 10);
            reads++;
            deadline.step(`dropping ${projection.role} (${calls} calls so far)`);
            deadline.check();
            last = performance.now();
          });
          last = performance.now();
        }
      }
      const wall = Date.now() - t0;
      const load = loadavg()[0] ?? 0;
      const scripts = await scriptCalls(redis);
      await redis.config("SET", "slowlog-log-slower-than", "10000");
      await redis.config("SET", "slowlog-max-len", "128");
      // A drop keeps each projection's version key (set again, greater), so that the API sees the change.
      const versions = new Set(PROJECTIONS.flatMap((p) => shardsOf(p, config).map((shard) => versionKey(config, p, shard))));
      const [, left] = (await redis.scan("0", "MATCH", `${keyPrefix(config)}*`, "COUNT", 100_000)) as [string, string[]];
      left.splice(0, left.length, ...left.filter((k) => !versions.has(k)));
      if (left.length) throw new Error(`bench drop: ${left.length} keys left after the drop, e.g. ${left[0]}`);
      if (!scripts.length) throw new Error("bench drop: the slow log holds no script call of the drop");
      if (process.env.BENCH_DROP_DEBUG) console.error(scripts.map((s) => `${s.key.replace(/^\{[^}]*\}:/, "")} ${s.ms}`).join("\n"));
      const longest = scripts.reduce((a, b) => (b.ms > a.ms ? b : a));
      const over = scripts.filter((s) => s.ms > GOAL_MS).length;
      const sorted = scripts.map((s) => s.ms).sort((a, b) => a - b);
      const pct = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(1);
      const note =
        `${N.toLocaleString("en-US")} stored transactions and the other groups' keys for as many, every group dropped (${PROJECTIONS.map((s) => s.role).join(", ")}); ` +
        `${scripts.length} script calls in ${(wall / 1000).toFixed(1)} s (bodies deleted ${DROP_BUDGET.toLocaleString("en-US")} a call), ` +
        `the longest ${longest.ms.toFixed(1)} ms (${longest.key.replace(/^\{[^}]*\}:/, "")}), median ${pct(0.5)} ms, 99th percentile ${pct(0.99)} ms, ${over} over ${GOAL_MS} ms; ` +
        `longest round trip timed by the client ${maxRoundTrip.toFixed(1)} ms; ${reads} reads answered between the calls; ` +
        `load average ${load.toFixed(1)} on ${cpus().length} cores (a call's duration in the slow log includes time Redis waited for a core)`;
      console.error(`bench drop: ${note}`);
      if (longest.ms > GOAL_MS) console.error(`bench drop: the longest call, ${longest.ms.toFixed(1)} ms, is over the goal of ${GOAL_MS} ms`);
      unwatch();
      return { drop_max_call_ms: { value: Math.round(longest.ms * 10) / 10, unit: "ms", goal: { op: "<=", value: GOAL_MS }, note } };
    } finally {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix(config)}*`, "COUNT", 5000);
        if (keys.length) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== "0");
      reader.disconnect();
      redis.disconnect();
    }
  },
};

export default bench;
