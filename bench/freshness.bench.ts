/**
 * `bun run bench freshness`: how fresh the API's answers are under load (issue 19, item 1).
 *
 *   api_freshness_p99_ms   for each transaction the simulator sends at RATE tx/s: from the moment
 *   api_freshness_p50_ms   it became readable in Redis to the arrival of the first
 *                          /show_transactions/ answer that lists it, while autocannon keeps
 *                          2,000 req/s on the three data endpoints (as bench/api.bench.ts
 *                          measures them). Goal: p99 ≤ 100 ms.
 *   api_freshness_by_request_p99_ms   the same, to the sending of that answer's request: the
 *                          promise (an answer reflects every write Redis acknowledged more than
 *                          100 ms before the request) without the answer's latency under load.
 *
 * The pipeline runs as `bun run demo` runs it (bench/live.ts): the simulator (in this process),
 * the producer, one process per consumer group and `bun run api`, each its own process. The API
 * is measured through its HTTP interface only, whatever its answer cache does.
 *
 * Two clocks, each polled tightly from this process:
 *   - readable in Redis: bench/live.ts `ReadableWatch`, the stored body of every sent transaction
 *     not found yet, polled every ~1 ms (the time is the start of the poll that found it);
 *   - in an answer: one client asks /show_transactions/?limit=PROBE_LIMIT again as soon as the
 *     last answer arrived (and ~1 ms), with If-None-Match, so an unchanged answer costs a 304;
 *     a transaction's time is the arrival of the first 200 that lists it. The limit covers
 *     PROBE_LIMIT / RATE seconds of transactions, so none leaves the list before an answer
 *     could show it; the API shares one reading of the list between limits.
 * A transaction the API lists before the Redis poll found it counts 0 ms (the note says how
 * many); one readable but never listed counts as infinitely late. The figures carry both polls'
 * intervals (the note gives their mean and longest gap).
 *
 * Within its deadline (bench/deadline.ts; BENCH_FRESHNESS_DEADLINE_S replaces it).
 */
import { loadavg } from "node:os";

import { Kafka, logLevel } from "kafkajs";
import { type Cannon, cannon, ENDPOINTS } from "./api.bench.ts";
import { type Deadline, readProducer } from "./deadline.ts";
import type { Bench, Figure } from "./index.ts";
import { benchRedis, ReadableWatch, startFeed, startLiveStack } from "./live.ts";
import { percentile, round } from "./stats.ts";

/** Transactions per second through the pipeline. */
const RATE = Number(process.env.BENCH_FRESHNESS_RATE ?? 50);
/** The background load on the data endpoints, requests per second, and its connections (a multiple of the 3 endpoints). */
const LOAD_RATE = 2_000;
const LOAD_CONNECTIONS = 12;
/** Load and transactions before measuring (JIT warm-up of the API under load, see api.bench.ts), discarded. */
const WARMUP_SECONDS = 15;
/** Transactions sent within this span after the warm-up are the samples. */
const MEASURE_SECONDS = Number(process.env.BENCH_FRESHNESS_SECONDS ?? 40);
/** After the last sample is sent: time for it to reach Redis and an answer, under the same load. */
const SETTLE_SECONDS = 5;
/** The probe's list: 200 newest, 4 s of transactions at 50 tx/s. */
const PROBE_LIMIT = 200;
const HASH = /"hash":"([0-9a-f]{64})"/g;

/** One client asking the API again and again; when each hash first appeared in an answer. */
class ApiProbe {
  /** hash -> performance.now() when the first answer listing it arrived. */
  readonly first = new Map<string, number>();
  /** hash -> performance.now() when the request of that answer was sent. */
  readonly firstAsked = new Map<string, number>();
  answers = 0;
  changed = 0;
  failed = 0;
  maxGapMs = 0;
  private started = 0;
  private last = 0;

  constructor(private readonly url: string) {}

  get meanGapMs(): number {
    return this.answers > 1 ? (this.last - this.started) / (this.answers - 1) : Number.NaN;
  }

  async run(deadline: Deadline, until: () => boolean, intervalMs = 1): Promise<void> {
    let etag: string | null = null;
    while (!until()) {
      try {
        const asked = performance.now();
        const res: Response = await fetch(this.url, { headers: etag ? { "if-none-match": etag } : {}, signal: deadline.signal });
        const body = res.status === 200 ? await res.text() : "";
        const at = performance.now();
        if (this.answers) this.maxGapMs = Math.max(this.maxGapMs, at - this.last);
        else this.started = at;
        this.last = at;
        this.answers++;
        if (res.status === 200) {
          this.changed++;
          etag = res.headers.get("etag");
          for (const m of body.matchAll(HASH))
            if (!this.first.has(m[1] as string)) {
              this.first.set(m[1] as string, at);
              this.firstAsked.set(m[1] as string, asked);
            }
        } else if (res.status !== 304) this.failed++;
      } catch {
        deadline.check();
        this.failed++;
      }
      await deadline.sleep(intervalMs);
    }
  }
}

/** The API's answer counters (src/api/metrics/http.ts), by series: its version checks, its readings per projection, its CPU seconds. Empty when it has none. */
async function apiCounters(base: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await fetch(`${base}/metrics`).then(
    (r) => (r.ok ? r.text() : ""),
    () => "",
  );
  for (const line of text.split("\n")) {
    const m = /^(api_version_checks_total|api_readings_total|process_cpu_seconds_total)(\{[^}]*\})?\s+([0-9.e+]+)$/.exec(line);
    if (m) out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return out;
}

/** "CPU 0.45 of a core, version checks 190/s, readings 52/s (projection="transactions" 50/s, ...) over the measured span"; "" without the counters. */
function describeCounters(from: Map<string, number>, to: Map<string, number>, seconds: number): string {
  const rate = (series: string) => ((to.get(series) ?? 0) - (from.get(series) ?? 0)) / seconds;
  const of = (name: string) => [...to.keys()].filter((k) => k.startsWith(name));
  const total = (name: string) => of(name).reduce((s, k) => s + rate(k), 0);
  if (!to.size) return "";
  const per = of("api_readings_total{")
    .map((k) => `${k.slice("api_readings_total".length).replace(/[{}]/g, "")} ${round(rate(k), 1)}/s`)
    .join(", ");
  const cpu = to.has("process_cpu_seconds_total") ? `CPU ${round(rate("process_cpu_seconds_total"), 2)} of a core, ` : "";
  return `${cpu}version checks ${round(total("api_version_checks_total"), 1)}/s, readings ${round(total("api_readings_total"), 1)}/s${per ? ` (${per})` : ""} over the measured span`;
}

const bench: Bench = {
  name: "freshness",
  // About 90 s: start-up, 15 s of warm-up, 40 s measured, 5 s to settle, stopping.
  deadlineSeconds: 300 + MEASURE_SECONDS,
  async run(deadline) {
    const kafka = new Kafka({ clientId: "bench-freshness", brokers: (process.env.KAFKA_BROKERS ?? "").split(","), logLevel: logLevel.NOTHING });
    const redis = benchRedis();
    const stack = await startLiveStack("freshness", kafka, redis, deadline);
    const total = Math.ceil(RATE * (WARMUP_SECONDS + MEASURE_SECONDS + 10)); // the first ones go out before the load starts
    const watch = new ReadableWatch(redis, stack.config);
    let feed: Awaited<ReturnType<typeof startFeed>> | undefined;
    let stopLoops = false;
    const loops: Promise<void>[] = [];
    try {
      feed = await startFeed(stack.env, { rate: RATE, count: total, seed: 23, onDelivered: (hash) => watch.track(hash) });
      deadline.step("waiting for the first transaction to be readable in Redis");
      const watching = watch.run(deadline, () => stopLoops);
      loops.push(watching);
      await Promise.race([
        (async () => {
          while (!watch.at.size) await deadline.sleep(20);
        })(),
        stack.crashed,
        watching,
      ]);
      const probe = new ApiProbe(`${stack.api}/show_transactions/?limit=${PROBE_LIMIT}`);
      loops.push(probe.run(deadline, () => stopLoops));

      const seconds = WARMUP_SECONDS + MEASURE_SECONDS + SETTLE_SECONDS;
      const urls = ENDPOINTS.map((e) => stack.api + e.path);
      deadline.step(`${LOAD_RATE} req/s on ${urls.length} endpoints for ${seconds} s, ${RATE} tx/s through the pipeline`);
      const load: Promise<Cannon> = cannon(urls[0] as string, ["-c", String(LOAD_CONNECTIONS), "-d", String(seconds), "-R", String(LOAD_RATE), ...urls.slice(1)], deadline);
      load.catch(() => {});
      const from = performance.now() + WARMUP_SECONDS * 1000;
      const to = from + MEASURE_SECONDS * 1000;
      const until = (at: number) => Promise.race([deadline.sleep(Math.max(0, at - performance.now())), stack.crashed]);
      await until(from);
      const countersFrom = await apiCounters(stack.api);
      await until(from + (MEASURE_SECONDS * 1000) / 2);
      const loadAverage = loadavg()[0] ?? 0;
      await until(to);
      const countersTo = await apiCounters(stack.api);
      const loaded = await Promise.race([load, stack.crashed]);
      stopLoops = true;
      await Promise.all(loops);
      const dropped = (await readProducer(redis, stack.config)).dropped;

      const samples = [...feed.delivered].filter(([, at]) => at >= from && at < to).map(([hash]) => hash);
      const readable = samples.filter((h) => watch.at.has(h));
      let early = 0;
      const fresh = readable.map((h) => {
        const listed = probe.first.get(h);
        if (listed === undefined) return Number.POSITIVE_INFINITY;
        const ms = listed - (watch.at.get(h) as number);
        if (ms < 0) early++;
        return Math.max(0, ms);
      });
      const never = fresh.filter((ms) => ms === Number.POSITIVE_INFINITY).length;
      // The promise itself: an answer lists what was readable before its request was sent. A
      // request sent before the transaction was readable, answered with it, counts 0.
      const byRequest = readable.map((h) => {
        const asked = probe.firstAsked.get(h);
        return asked === undefined ? Number.POSITIVE_INFINITY : Math.max(0, asked - (watch.at.get(h) as number));
      });
      const requestP50 = percentile(byRequest, 0.5);
      const requestP99 = percentile(byRequest, 0.99);
      const p50 = percentile(fresh, 0.5);
      const p99 = percentile(fresh, 0.99);
      const max = percentile(fresh, 1);
      const sentRate = samples.length / MEASURE_SECONDS;
      const loadNote =
        `autocannon ${LOAD_RATE} req/s over ${LOAD_CONNECTIONS} connections on ${ENDPOINTS.map((e) => e.path).join(", ")} for ${seconds} s ` +
        `(${loaded.rps < LOAD_RATE * 0.95 ? `only ${Math.round(loaded.rps)} req/s sustained: the machine could not keep the load` : `${Math.round(loaded.rps)} req/s sustained`}, ` +
        `its p99 ${loaded.p99} ms${loaded.non2xx + loaded.errors ? `, ${loaded.non2xx + loaded.errors} failed` : ""})`;
      const work = describeCounters(countersFrom, countersTo, MEASURE_SECONDS);
      const resolution =
        `Redis polled every ${round(watch.meanGapMs, 1)} ms on average (longest gap ${round(watch.maxGapMs, 0)} ms), the API answered the probe every ${round(probe.meanGapMs, 1)} ms ` +
        `(longest gap ${round(probe.maxGapMs, 0)} ms; ${probe.changed} answers of ${probe.answers} changed, the rest 304)`;
      console.error(
        `bench freshness: ${readable.length} transactions at ${round(sentRate, 1)} tx/s: p50 ${round(p50, 1)} ms, p99 ${round(p99, 1)} ms, max ${round(max, 1)} ms; ` +
          `to the request of that answer p50 ${round(requestP50, 1)} ms, p99 ${round(requestP99, 1)} ms; ` +
          `${never} never listed, ${early} listed before the Redis poll found them; ${loadNote}; ${resolution}; ${work ? `the API's ${work}; ` : ""}load average ${loadAverage.toFixed(1)}`,
      );
      if (readable.length < samples.length * 0.9 || !readable.length)
        throw new Error(`bench freshness: only ${readable.length} of the ${samples.length} transactions sent became readable in Redis (${dropped} dropped by the producer)`);
      if (!Number.isFinite(p99))
        throw new Error(`bench freshness: ${never} of ${readable.length} transactions readable in Redis never appeared in a /show_transactions/ answer (more than 1%: no p99)`);
      const note =
        `readable in Redis -> first /show_transactions/ answer listing it, ${readable.length} transactions sent at ${round(sentRate, 1)} tx/s over ${MEASURE_SECONDS} s ` +
        `(after ${WARMUP_SECONDS} s of warm-up) through sim, producer, every group and bun run api; under ${loadNote}; ` +
        `resolution: ${resolution}, so each figure carries up to a poll interval of either side${early ? `; ${early} listed before the Redis poll found them, counted 0` : ""}` +
        `${never ? `; ${never} never listed (counted as infinitely late)` : ""}${dropped ? `; ${dropped} dropped by the producer` : ""}; max ${round(max, 1)} ms` +
        `${work ? `; the API's ${work}` : ""}; load average ${loadAverage.toFixed(1)}`;
      stack.unwatch();
      return {
        api_freshness_p50_ms: { value: round(p50, 1), unit: "ms", note: "as api_freshness_p99_ms" },
        api_freshness_p99_ms: { value: round(p99, 1), unit: "ms", goal: { op: "<=", value: 100 }, note },
        api_freshness_by_request_p99_ms: {
          value: round(requestP99, 1),
          unit: "ms",
          goal: { op: "<=", value: 100 },
          note:
            `readable in Redis -> the sending of the request whose answer first listed it (0 when the request went first), p50 ${round(requestP50, 1)} ms: ` +
            "the promise itself (an answer reflects every write acknowledged more than 100 ms before the request), without the answer's own latency under the load; same run as api_freshness_p99_ms",
        },
      } satisfies Record<string, Figure>;
    } finally {
      stopLoops = true;
      await Promise.race([Promise.allSettled(loops), Bun.sleep(2_000)]);
      await feed?.stop();
      await stack.stop();
      redis.disconnect();
    }
  },
};

export default bench;
