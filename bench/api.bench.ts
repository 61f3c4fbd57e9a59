/**
 * The REST API under load: 100,000 stored transactions and ~250,000 addresses in the 3-hour
 * window (seeded through the consumers' own Lua scripts, by tools/testkit/fill.ts), the API in its
 * own process on Bun.serve (src/roles/api.ts itself), and autocannon (a node process) as the load
 * generator.
 *
 *   api_p99_ms_<endpoint>           p99 latency at a fixed 2,000 requests/s for 10 s after a warm-up,
 *                                   the worse of 2 runs (goal ≤ 5 ms; the note gives both and the load average)
 *   api_max_rps_<endpoint>          requests/s at full speed (64 connections, 5 s)
 *   api_p99_ms_<endpoint>_uncached  p99 at 2,000 requests/s for 5 s with answers not shared (fresh: { shared: false }):
 *                                   every request reads Redis; where the time goes without the cache
 *   api_p99_ms_loadgen_floor        p99 of a Bun.serve answering "ok" under the same load: the part
 *                                   of every latency figure that is autocannon and the machine
 *
 * Endpoints: /show_transactions/ (100 newest), /transactions_count_per_minute/0 (60 minutes),
 * /high_value_addr (top 10 received). The servers run as child processes so that the seeding's
 * heap (100,000 transactions in this process) cannot add garbage-collection pauses to them.
 *
 * Within its deadline (bench/deadline.ts; BENCH_API_DEADLINE_S replaces it). No Kafka and no
 * producer here: its report gives the step it was at.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import type Redis from "ioredis";
import { loadConfig } from "../src/domain/config.ts";
import { windowStart } from "../src/domain/window.ts";
import { addrTotalKey } from "../src/projections/addresses/keys.ts";
import { storedTransactionCount } from "../src/projections/transactions/read.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { keyPrefix } from "../src/redis/keys.ts";
import { diesWithParent, freePort } from "../tools/infra/process.ts";
import { fill } from "../tools/testkit/fill.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import type { Deadline } from "./deadline.ts";
import type { Bench, Figure } from "./index.ts";

/** Unlinks every key matching `pattern`, by SCAN (KEYS is a dangerous command no user of the stack may run). */
async function unlinkMatching(redis: Redis, pattern: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) if (keys.length) await redis.unlink(...keys);
}

const TRANSACTIONS = 100_000;
/** Popular-address pool of the synthetic population (30% of address slots; the rest are fresh): ~540,000 distinct addresses in all. */
const ADDRESS_POOL = 350_000;
const RATE = 2_000;
const RATE_SECONDS = 10;
/**
 * Load before measuring each endpoint, at the measured rate, discarded. The first ~15 s of a
 * route under 2,000 requests/s are JIT compilation (JavaScriptCore tiers code up on background
 * threads, which on a small machine compete with the server, Redis and autocannon), not the
 * steady state: consecutive 8 s runs of /show_transactions/ on a fresh process gave p99 20, 19,
 * 6, 5, 3, 5, 3, 4 ms.
 */
const WARMUP_SECONDS = 12;
const UNCACHED_WARMUP_SECONDS = 2;
const FLOOR_SECONDS = 5;
/** Measured fixed-rate runs per endpoint; the figure is the worse p99 of them (the note gives each). */
const RATE_RUNS = 2;
const UNCACHED_SECONDS = 5;
/** Connections of the fixed-rate runs: 200 requests/s each (see api_p99_ms_loadgen_floor). */
const RATE_CONNECTIONS = 10;
const MAX_SECONDS = 5;
const CONNECTIONS = 64;
const SEED_CHUNK = 2_000;

export const ENDPOINTS = [
  { name: "show_transactions", path: "/show_transactions/" },
  { name: "count_per_minute", path: "/transactions_count_per_minute/0" },
  { name: "high_value_addr", path: "/high_value_addr" },
] as const;

const ROOT = join(import.meta.dir, "..");
const AUTOCANNON = join(ROOT, "node_modules", "autocannon", "autocannon.js");

export interface Cannon {
  p99: number;
  p50: number;
  rps: number;
  non2xx: number;
  errors: number;
}

/**
 * One autocannon run as a node subprocess; its --json report. Killed when the deadline passes.
 * `args` may end with more URLs (autocannon spreads the connections over them).
 */
export async function cannon(url: string, args: string[], deadline: Deadline): Promise<Cannon> {
  deadline.check();
  const proc = Bun.spawn(diesWithParent(["node", AUTOCANNON, "--json", "--no-progress", ...args, url]), { stdout: "pipe", stderr: "pipe" });
  const kill = () => proc.kill("SIGKILL");
  deadline.signal.addEventListener("abort", kill, { once: true });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).finally(() =>
    deadline.signal.removeEventListener("abort", kill),
  );
  deadline.check();
  if (code !== 0) throw new Error(`autocannon exited with ${code}: ${err.slice(0, 500)}`);
  const r = JSON.parse(out);
  return { p99: r.latency.p99, p50: r.latency.p50, rps: r.requests.average, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

/** Starts `code` (or a file) as a child bun process with `env`; resolves when `url` answers. */
async function child(cmd: string[], env: Record<string, string>, url: string, deadline: Deadline) {
  const proc = Bun.spawn(diesWithParent([process.execPath, ...cmd]), { env: { ...process.env, ...env }, stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  const until = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${cmd.join(" ")} exited with ${proc.exitCode}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > until) throw new Error(`${url} did not answer within 20 s`);
    await deadline.sleep(100);
  }
  return { stop: async () => void (proc.kill("SIGTERM"), await proc.exited) };
}

/** The API with answers not shared (every request reads Redis), as a child process like the real role. */
const UNCACHED = `
import { createApp } from ${JSON.stringify(join(ROOT, "src/api/app.ts"))};
import { KafkaProbe } from ${JSON.stringify(join(ROOT, "src/api/health/kafka.ts"))};
import { connectRedis } from ${JSON.stringify(join(ROOT, "src/redis/connection.ts"))};
import { configOrExit } from ${JSON.stringify(join(ROOT, "src/domain/config.ts"))};
import { createKafka } from ${JSON.stringify(join(ROOT, "src/kafka/client.ts"))};
import { createLogger } from ${JSON.stringify(join(ROOT, "src/domain/log.ts"))};
import { PROJECTIONS } from ${JSON.stringify(join(ROOT, "src/projections/registry.ts"))};
const config = configOrExit();
const log = createLogger("api-uncached", config);
const kafka = new KafkaProbe(createKafka(config, "bench", log).admin(), config.TOPIC, []);
createApp({ config, redis: connectRedis(config.REDIS_URL), kafka, log, projections: PROJECTIONS, fresh: { shared: false } }).listen({ port: config.PORT, hostname: "127.0.0.1" });
`;

/** The load generator's own floor: a Bun.serve that answers "ok" at once. */
const FLOOR = `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("ok") });`;

const bench: Bench = {
  name: "api",
  // About 4 minutes today: seeding, then per endpoint 12 s of warm-up, 2 runs of 10 s and 5 s at
  // full speed, and the uncached runs.
  deadlineSeconds: 900,
  async run(deadline) {
    const config = loadConfig({ ...process.env, REDIS_PREFIX: "bench-api", TOPIC: "bench-api", LOG_LEVEL: "warn" });
    const env = { REDIS_URL: config.REDIS_URL, KAFKA_BROKERS: config.KAFKA_BROKERS, REDIS_PREFIX: config.REDIS_PREFIX, TOPIC: config.TOPIC, LOG_LEVEL: "warn" };
    const seeder = connectRedis(config.REDIS_URL);
    seeder.options.commandTimeout = 60_000;
    const figures: Record<string, Figure> = {};
    const running: { stop(): Promise<void> }[] = [];
    const fixedRate = (url: string, seconds = RATE_SECONDS) => cannon(url, ["-c", String(RATE_CONNECTIONS), "-d", String(seconds), "-R", String(RATE)], deadline);
    const unwatch = deadline.watch("bench api", config);
    const load = () => loadavg()[0]?.toFixed(1);
    try {
      // ---- seed: the 3-hour window, through the consumers' scripts --------------------------
      await unlinkMatching(seeder, `${keyPrefix(config)}*`);
      deadline.step(`seeding ${TRANSACTIONS.toLocaleString("en-US")} transactions`);
      const seeded = await seed(seeder, config, deadline);

      // ---- the load generator's floor --------------------------------------------------------
      const floorPort = freePort();
      const floorUrl = `http://127.0.0.1:${floorPort}/`;
      deadline.step("measuring the load generator's floor");
      running.push(await child(["-e", FLOOR], { PORT: String(floorPort) }, floorUrl, deadline));
      const floor = await fixedRate(floorUrl, FLOOR_SECONDS);
      await running.pop()?.stop();
      console.error(`bench api: load generator floor (Bun.serve answering "ok") at ${RATE}/s: p50 ${floor.p50} ms, p99 ${floor.p99} ms`);
      figures.api_p99_ms_loadgen_floor = {
        value: floor.p99,
        unit: "ms",
        note: `p99 of a Bun.serve answering "ok" at ${RATE}/s over ${RATE_CONNECTIONS} connections: what autocannon and this machine add to every latency (load average ${load()})`,
      };

      // ---- `bun run api` itself (src/roles/api.ts: answers kept until their projection writes) -----
      const port = freePort();
      const base = `http://127.0.0.1:${port}`;
      running.push(await child([join(ROOT, "src/roles/api.ts")], { ...env, PORT: String(port) }, `${base}/metrics`, deadline));
      for (const { name, path } of ENDPOINTS) {
        const url = base + path;
        deadline.step(`measuring ${path}`);
        await fixedRate(url, WARMUP_SECONDS);
        const runs: Cannon[] = [];
        for (let i = 0; i < RATE_RUNS; i++) runs.push(await fixedRate(url));
        const fixed = runs.reduce((a, b) => (b.p99 > a.p99 ? b : a));
        const full = await cannon(url, ["-c", String(CONNECTIONS), "-d", String(MAX_SECONDS)], deadline);
        const loadNow = load();
        console.error(
          `bench api: ${path} at ${RATE}/s: p99 ${runs.map((r) => `${r.p99} ms`).join(", ")} (p50 ${fixed.p50} ms); full speed ${Math.round(full.rps)}/s; load average ${loadNow}`,
        );
        const failed = [...runs, full].reduce((n, r) => n + r.non2xx + r.errors, 0);
        figures[`api_p99_ms_${name}`] = {
          value: fixed.p99,
          unit: "ms",
          goal: { op: "<=", value: 5 },
          note:
            `bun run api (answers kept until their projection's version moves, checked every 5 ms; no writes during the run); ${RATE}/s over ${RATE_CONNECTIONS} connections, autocannon (1 ms resolution); ` +
            `after ${WARMUP_SECONDS} s of warm-up, the worse of ${RATE_RUNS} runs of ${RATE_SECONDS} s ` +
            `(p99 ${runs.map((r) => r.p99).join(" and ")} ms, load average ${loadNow}); ${seeded}${failed ? `; ${failed} failed requests` : ""}`,
        };
        figures[`api_max_rps_${name}`] = {
          value: Math.round(full.rps),
          unit: "req/s",
          note: `${CONNECTIONS} connections for ${MAX_SECONDS} s; the API, Redis and autocannon share ${cpus().length} cores`,
        };
      }
      await running.pop()?.stop();

      // ---- the same with the cache off: every request reads Redis ---------------------------
      const port2 = freePort();
      const uncached = `http://127.0.0.1:${port2}`;
      running.push(await child(["-e", UNCACHED], { ...env, PORT: String(port2) }, `${uncached}/metrics`, deadline));
      for (const { name, path } of ENDPOINTS) {
        const url = uncached + path;
        deadline.step(`measuring ${path} uncached`);
        await fixedRate(url, UNCACHED_WARMUP_SECONDS);
        const fixed = await fixedRate(url, UNCACHED_SECONDS);
        console.error(`bench api: ${path} uncached at ${RATE}/s: p50 ${fixed.p50} ms, p99 ${fixed.p99} ms (${Math.round(fixed.rps)}/s)`);
        const short = fixed.rps < RATE * 0.95 ? `; only ${Math.round(fixed.rps)}/s sustained` : "";
        figures[`api_p99_ms_${name}_uncached`] = {
          value: fixed.p99,
          unit: "ms",
          note: `answers not shared (every request reads Redis), ${RATE}/s for ${UNCACHED_SECONDS} s after ${UNCACHED_WARMUP_SECONDS} s of warm-up${short}${fixed.non2xx + fixed.errors ? `; ${fixed.non2xx + fixed.errors} failed` : ""}`,
        };
      }
      unwatch();
      return figures;
    } finally {
      for (const r of running.reverse()) await r.stop();
      await unlinkMatching(seeder, `${keyPrefix(config)}*`);
      seeder.disconnect();
    }
  },
};

/** Seeds the window as the consumer groups would; returns a description for the notes. */
async function seed(redis: ReturnType<typeof connectRedis>, config: ReturnType<typeof loadConfig>, deadline: Deadline): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000);
  // Spread over the window but its first 5 minutes, so none leaves it while the bench runs.
  const txs = syntheticTransactions(TRANSACTIONS, { addresses: ADDRESS_POOL, fromSec: windowStart(nowSec) + 5 * 60, toSec: nowSec, seed: 42 });
  const t0 = performance.now();
  for (let i = 0; i < txs.length; i += SEED_CHUNK) {
    deadline.check();
    await fill(redis, config, txs.slice(i, i + SEED_CHUNK), { at: nowSec });
  }
  const stored = await storedTransactionCount(redis, config);
  const [received, sent] = await Promise.all([redis.zcard(addrTotalKey(config, "received")), redis.zcard(addrTotalKey(config, "sent"))]);
  const distinct = new Set<string>();
  for (const t of txs) for (const e of [...t.inputs, ...t.outputs]) if (e.address) distinct.add(e.address);
  console.error(`bench api: seeded ${stored} transactions, ${distinct.size} distinct addresses (${received} received, ${sent} sent) in ${Math.round(performance.now() - t0)} ms`);
  return `${stored.toLocaleString("en-US")} transactions, ${distinct.size.toLocaleString("en-US")} addresses in the window`;
}

export default bench;
