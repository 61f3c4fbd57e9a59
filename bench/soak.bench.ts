/**
 * `bun run bench soak`: `bun run demo -- --rate 100` for a bounded time, every role's memory
 * sampled (issue 19, item 5).
 *
 *   soak_rss_growth_mb_per_h_<role>   per role of the demo (the supervisor `demo`, `sim`,
 *                                     `producer`, each consumer group of the registry, `api`):
 *                                     the least-squares slope of its resident set size (RSS,
 *                                     /proc/<pid>/status VmRSS) over the measured span, in MB an
 *                                     hour; a group that runs several processes reports its
 *                                     steepest. Goal: under 5 MB/h once warm. The note gives the
 *                                     slope over the second half of the span too, the RSS at both
 *                                     ends, and each process of a group.
 *   soak_redis_growth_mb_per_h        the slope of Redis's used_memory (no goal): Redis holds
 *                                     every transaction of the last 3 hours, so it grows with
 *                                     the data until the window is full; the note compares its
 *                                     growth with the data it holds (MEMORY USAGE of the
 *                                     namespace's keys, and the transactions stored).
 *
 * The demo (tools/demo/main.ts) runs as a user runs it, with the bench's Kafka and Redis (it
 * starts none when they answer) on a namespace of its own; the bench reads each role's pid from
 * the lines it prints. Samples every SAMPLE_SECONDS; the first WARMUP_SECONDS are discarded
 * (start-up, JIT, the first garbage collections). Sizes: BENCH_SOAK_SECONDS (measured, default
 * 300), BENCH_SOAK_WARMUP_SECONDS (default 60), BENCH_SOAK_RATE (default 100 tx/s). A slope over
 * minutes is noisy (a garbage collection moves a process's RSS by megabytes): the note says how
 * long it measured; a longer soak settles it.
 *
 * Within its deadline (bench/deadline.ts; BENCH_SOAK_DEADLINE_S replaces it); the demo and every
 * role are stopped on every way out.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";

import { Kafka, logLevel } from "kafkajs";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { storedTransactionCount } from "../src/projections/transactions/read.ts";
import { diesWithParent, freePort } from "../tools/infra/process.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { memoryByGroup, usedMemory } from "./consumers.bench.ts";
import { readProducer } from "./deadline.ts";
import type { Bench, Figure } from "./index.ts";
import { benchRedis, liveNamespace } from "./live.ts";
import { type Point, round, secondHalf, slope, slopeStderr } from "./stats.ts";

const ROOT = join(import.meta.dir, "..");
const seconds = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw}: a number of seconds above 0`);
  return n;
};
const SOAK_SECONDS = seconds("BENCH_SOAK_SECONDS", 300);
const WARMUP_SECONDS = seconds("BENCH_SOAK_WARMUP_SECONDS", 60);
const RATE = seconds("BENCH_SOAK_RATE", 100);
const SAMPLE_SECONDS = 5;
/** Goal: under this many MB an hour per role, once warm. */
const GOAL_MB_PER_H = 5;
/** The demo's own name in the figures (its supervisor process). */
const DEMO = "demo";
const MB = 1024 * 1024;

/** A process's resident set size in MB (Linux /proc; `ps` elsewhere); undefined when it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    if (kb !== undefined) return Number(kb) / 1024;
  } catch {
    // no /proc, or the process is gone
  }
  const ps = Bun.spawnSync(["ps", "-o", "rss=", "-p", String(pid)]);
  const kb = Number(ps.stdout.toString().trim());
  return ps.exitCode === 0 && kb > 0 ? kb / 1024 : undefined;
}

/** The figure name of a demo process: a group's processes (`<role>-<n>`) go under their group. */
function roleOf(name: string): string {
  for (const { role } of PROJECTIONS) if (name === role || (name.startsWith(`${role}-`) && /^\d+$/.test(name.slice(role.length + 1)))) return role;
  return name;
}

interface Sample {
  /** Seconds since the measured span started (negative during the warm-up). */
  t: number;
  /** RSS in MB by process name, and the pid it was read from. */
  rss: Map<string, { pid: number; mb: number }>;
  redisMb: number;
  stored: number;
}

const bench: Bench = {
  name: "soak",
  // The warm-up and the span, and four minutes to start the demo, settle, stop and clean up.
  deadlineSeconds: Math.round(WARMUP_SECONDS + SOAK_SECONDS + 240),
  async run(deadline) {
    const kafka = new Kafka({ clientId: "bench-soak", brokers: (process.env.KAFKA_BROKERS ?? "").split(","), logLevel: logLevel.NOTHING });
    const redis = benchRedis();
    const { env, config } = liveNamespace("soak");
    const port = freePort();
    const unwatch = deadline.watch("bench soak", config);
    // One process per role, as the demo starts them (tools/demo/main.ts): sim, producer, every group's processes, api.
    const expected = 3 + PROJECTIONS.reduce((n, p) => n + p.processes, 0);
    const pids = new Map<string, number>();
    const restarts = new Map<string, number>();
    const demo = Bun.spawn(diesWithParent([process.execPath, join(ROOT, "tools/demo/main.ts"), "--rate", String(RATE)]), {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: String(port) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    });
    pids.set(DEMO, demo.pid);
    let stopping = false;
    const exited = demo.exited.then((code) => {
      if (!stopping) throw new Error(`bench soak: the demo exited with ${code} before the bench stopped it`);
      return new Promise<never>(() => {});
    });
    exited.catch(() => {});
    // The demo's stdout: its own lines ("demo: <role> pid <n>") and its roles' (prefixed), read to the end so the pipe never fills.
    const reading = (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      for await (const chunk of demo.stdout) {
        const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          const m = /^demo: (\S+) pid (\d+)$/.exec(line);
          if (!m) continue;
          const [, name, pid] = m as unknown as [string, string, string];
          if (pids.has(name)) restarts.set(name, (restarts.get(name) ?? 0) + 1);
          pids.set(name, Number(pid));
        }
      }
    })();
    reading.catch(() => {});
    const samples: Sample[] = [];
    let start = 0;
    const sample = async (): Promise<Sample> => {
      const rss = new Map<string, { pid: number; mb: number }>();
      for (const [name, pid] of pids) {
        const mb = rssMb(pid);
        if (mb !== undefined) rss.set(name, { pid, mb });
      }
      const [used, stored] = await Promise.all([usedMemory(redis), storedTransactionCount(redis, config)]);
      return { t: (performance.now() - start) / 1000, rss, redisMb: used / MB, stored };
    };
    try {
      deadline.step(`starting bun run demo -- --rate ${RATE} (${expected} roles)`);
      const api = `http://127.0.0.1:${port}/metrics`;
      await Promise.race([
        exited,
        (async () => {
          while (
            pids.size < expected + 1 ||
            !(await fetch(api).then(
              (r) => r.ok,
              () => false,
            )) ||
            (await storedTransactionCount(redis, config)) === 0
          )
            await deadline.sleep(200);
        })(),
      ]);
      console.error(
        `bench soak: the demo runs ${[...pids.keys()].join(", ")}; ${WARMUP_SECONDS} s of warm-up, then ${SOAK_SECONDS} s measured, a sample every ${SAMPLE_SECONDS} s`,
      );
      start = performance.now() + WARMUP_SECONDS * 1000;
      let memoryBefore = 0;
      let next = performance.now();
      while (performance.now() < start + SOAK_SECONDS * 1000) {
        deadline.step(`sampling every role's memory (${samples.filter((s) => s.t >= 0).length} samples measured)`);
        next += SAMPLE_SECONDS * 1000;
        const warm = performance.now() >= start;
        if (warm && !memoryBefore) memoryBefore = sum(await memoryByGroup(redis, config));
        const s = await Promise.race([sample(), exited]);
        if (warm) samples.push(s);
        const t = s.t;
        if (Math.round(t) % 60 === 0 || samples.length === 1)
          console.error(
            `bench soak: ${t < 0 ? "warm-up" : "measured"} t=${Math.round(t)} s: ${[...s.rss].map(([n, r]) => `${n} ${r.mb.toFixed(0)}`).join(", ")} MB; redis ${s.redisMb.toFixed(0)} MB, ${s.stored} transactions`,
          );
        await Promise.race([deadline.sleep(Math.max(0, next - performance.now())), exited]);
      }
      const loadAverage = loadavg()[0] ?? 0;
      const memoryAfter = sum(await memoryByGroup(redis, config));
      const producer = await readProducer(redis, config);
      if (samples.length < 3) throw new Error(`bench soak: only ${samples.length} samples measured`);

      const figures: Record<string, Figure> = {};
      const first = samples[0] as Sample;
      const last = samples[samples.length - 1] as Sample;
      const span = last.t - first.t;
      const perHour = (points: Point[]) => slope(points) * 3600;
      const how = `a sample every ${SAMPLE_SECONDS} s for ${round(span / 60, 1)} min after ${WARMUP_SECONDS} s of warm-up, bun run demo -- --rate ${RATE}`;
      const groups = new Map<string, string[]>();
      for (const name of pids.keys()) groups.set(roleOf(name), [...(groups.get(roleOf(name)) ?? []), name]);
      for (const [role, names] of groups) {
        const fits = names.map((name) => {
          // A process the demo restarted: only its last one's samples.
          const pid = pids.get(name);
          const points = samples.flatMap((s) => {
            const r = s.rss.get(name);
            return r && r.pid === pid ? [{ x: s.t, y: r.mb }] : [];
          });
          return {
            name,
            all: perHour(points),
            error: slopeStderr(points) * 3600,
            half: perHour(secondHalf(points)),
            from: points[0]?.y ?? 0,
            to: points.at(-1)?.y ?? 0,
            n: points.length,
          };
        });
        const measured = fits.filter((f) => Number.isFinite(f.all));
        if (!measured.length)
          throw new Error(`bench soak: ${role}: fewer than 2 samples of its last process (restarted by the demo: ${names.filter((n) => restarts.has(n)).join(", ")})`);
        const worst = measured.reduce((a, b) => (b.all > a.all ? b : a));
        const restarted = names.filter((n) => restarts.has(n));
        console.error(
          `bench soak: ${role}: ${fits.map((f) => `${f.name} ${round(f.all)} ± ${round(f.error)} MB/h (second half ${round(f.half)}), ${f.from.toFixed(1)} -> ${f.to.toFixed(1)} MB`).join("; ")}`,
        );
        figures[`soak_rss_growth_mb_per_h_${role}`] = {
          value: round(worst.all),
          unit: "MB/h",
          goal: { op: "<=", value: GOAL_MB_PER_H },
          note:
            `RSS least-squares slope ± ${round(worst.error)} MB/h (its standard error, which the GC sawtooth makes look smaller than it is), ${how}${fits.length > 1 ? `; the steepest of its ${fits.length} processes (${fits.map((f) => `${f.name} ${round(f.all)}`).join(", ")} MB/h)` : ""}; ` +
            `second half ${round(worst.half)} MB/h; ${worst.from.toFixed(1)} -> ${worst.to.toFixed(1)} MB` +
            `${restarted.length ? `; restarted by the demo: ${restarted.join(", ")} (slope of the last process only)` : ""}; ` +
            `a slope over ${round(span / 60, 0)} min is noisy (a garbage collection moves RSS by MBs): BENCH_SOAK_SECONDS for a longer soak`,
        };
      }
      const redisPoints = samples.map((s) => ({ x: s.t, y: s.redisMb }));
      const added = last.stored - first.stored;
      const usedGrowth = (last.redisMb - first.redisMb) * MB;
      const keysGrowth = memoryAfter - memoryBefore;
      console.error(
        `bench soak: redis ${round(perHour(redisPoints))} MB/h (second half ${round(perHour(secondHalf(redisPoints)))}); used_memory +${(usedGrowth / MB).toFixed(1)} MB, the namespace's keys +${(keysGrowth / MB).toFixed(1)} MB, +${added} transactions held; load average ${loadAverage.toFixed(1)}`,
      );
      figures.soak_redis_growth_mb_per_h = {
        value: round(perHour(redisPoints)),
        unit: "MB/h",
        note:
          `Redis used_memory least-squares slope, ${how}; it holds every transaction of the last 3 hours, so it grows with the data until the window is full: ` +
          `used_memory +${(usedGrowth / MB).toFixed(1)} MB while the namespace's keys (MEMORY USAGE) grew ${(keysGrowth / MB).toFixed(1)} MB ` +
          `(used_memory / keys ${round(usedGrowth / keysGrowth, 2)}) and it held ${added.toLocaleString("en-US")} more transactions: ` +
          `${Math.round(usedGrowth / Math.max(added, 1)).toLocaleString("en-US")} B of used_memory and ${Math.round(keysGrowth / Math.max(added, 1)).toLocaleString("en-US")} B of keys per transaction added; ` +
          `second half ${round(perHour(secondHalf(redisPoints)))} MB/h; producer received ${producer.received.toLocaleString("en-US")}, dropped ${producer.dropped}; load average ${loadAverage.toFixed(1)}`,
      };
      unwatch();
      return figures;
    } finally {
      stopping = true;
      demo.kill("SIGTERM");
      // The demo stops its roles (each finishes its batch) within 20 s; its roles die with it (pdeathsig).
      const timer = setTimeout(() => demo.kill("SIGKILL"), 30_000);
      await Promise.race([demo.exited, Bun.sleep(35_000)]);
      clearTimeout(timer);
      await Promise.race([reading, Bun.sleep(1_000)]);
      await dropNamespace(kafka, redis, config);
      redis.disconnect();
    }
  },
};

/** The bytes of every group's keys (MEMORY USAGE). */
function sum(groups: Record<string, { bytes: number }>): number {
  return Object.values(groups).reduce((s, g) => s + g.bytes, 0);
}

export default bench;
