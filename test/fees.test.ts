/**
 * The fee projection (src/projections/fees/, issue 18 item 3): fee rates per minute, as
 * mempool.space shows them, against an independent computation written here (the bands, the
 * virtual size, the rate in sat/kvB, the percentile rule), never the projection's own code.
 *
 * - Without Kafka: Redis filled through the projection's own apply mapping (its script calls, the
 *   clock pinned), read through GET /fee_rates_per_minute and straight from Redis (HGETALL, TTL).
 * - With Kafka: real blockchain.com frames (test/fixtures/utx-sample.jsonl, normalized and
 *   re-stamped into the last hour) and synthetic ones, applied by the fee group's consumer
 *   runner; a negative fee dead-lettered; Redis losing the namespace's keys while the consumer
 *   runs, a rebuild, and a loss with the consumer stopped: the same exact answer each time, and no
 *   answer ever says complete while it differs from the expected one.
 *
 * The module is used directly (`fees`), not through the registry: the test holds whether or not
 * the registry lists it.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Message } from "kafkajs";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { applyCalls, processorOf } from "../src/consumers/group.ts";
import { type ConsumerRunner, createConsumerRunner } from "../src/consumers/runner.ts";
import { createLogger } from "../src/domain/log.ts";
import { WHOLE } from "../src/domain/shards.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { readFeedMessage } from "../src/feed/utx.ts";
import { dlqTopic, groupId } from "../src/kafka/client.ts";
import { fees } from "../src/projections/fees/index.ts";
import { feeMinuteKey, feeMinutePrefix } from "../src/projections/fees/keys.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { rebuild } from "../src/rebuild/rebuild.ts";
import { keyPrefix } from "../src/redis/keys.ts";
import { defineScripts } from "../src/redis/loader.ts";
import { NO_POSITION, runAll } from "../src/redis/scripts.ts";
import { Random } from "../tools/sim/random.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import { level, plant } from "./helpers/coverage.ts";
import { bounded, type TestEnv, testEnv, waitFor } from "./helpers/env.ts";
import { createTopic, produce, readTopic, txMessage, waitCommitted } from "./helpers/kafka.ts";

setDefaultTimeout(60_000);

// ---- the independent computation ----------------------------------------------------------------

/** mempool.space's fee bands, lower bounds in sat/vB; the last is "2000 and above". */
const BANDS = [
  1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200, 250, 300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
];
/** Minutes are kept this long after they start (the issue: 2 hours). */
const KEEP_SECONDS = 2 * 3600;
const MINUTES_SHOWN = 60;

/** Virtual size: ceil(weight / 4), or the size when the record has no weight (null, or a version-1 record without the field). */
const vbytesOf = (tx: { size: number; weight?: number | null }) => (tx.weight === undefined || tx.weight === null ? tx.size : Math.ceil(tx.weight / 4));
/** sat/kvB, rounded down, exact (BigInt). */
const kvbOf = (fee: number, vbytes: number) => Number((BigInt(fee) * 1000n) / BigInt(vbytes));
/** The band of a rate (sat/kvB): the highest lower bound it reaches; below 1 sat/vB, band 1. */
function bandOf(kvb: number): number {
  let band = 1;
  for (const lower of BANDS) if (kvb >= lower * 1000) band = lower;
  return band;
}

interface MinuteFigures {
  count: number;
  unknown: number;
  fee: number;
  vsize: number;
  min: number | null;
  max: number | null;
  bands: Map<number, number>;
}

/**
 * The figures Redis must hold after `txs` (delivery order; each hash once, its first copy), by
 * minute start (unix s), at `nowSec`: a transaction whose minute is no longer kept is stale.
 */
function figuresOf(txs: readonly Transaction[], nowSec: number): Map<number, MinuteFigures> {
  const seen = new Set<string>();
  const out = new Map<number, MinuteFigures>();
  for (const tx of txs) {
    const minute = tx.time - (tx.time % 60);
    if (minute + KEEP_SECONDS <= nowSec) continue;
    // A negative fee is refused (dead-lettered): counted nowhere.
    if (tx.fee !== null && tx.fee < 0) continue;
    if (seen.has(tx.hash)) continue;
    seen.add(tx.hash);
    let m = out.get(minute);
    if (!m) out.set(minute, (m = { count: 0, unknown: 0, fee: 0, vsize: 0, min: null, max: null, bands: new Map() }));
    if (tx.fee === null) {
      m.unknown++;
      continue;
    }
    const vbytes = vbytesOf(tx);
    const kvb = kvbOf(tx.fee, vbytes);
    m.count++;
    m.fee += tx.fee;
    m.vsize += vbytes;
    m.min = m.min === null ? kvb : Math.min(m.min, kvb);
    m.max = m.max === null ? kvb : Math.max(m.max, kvb);
    const band = bandOf(kvb);
    m.bands.set(band, (m.bands.get(band) ?? 0) + 1);
  }
  return out;
}

/** Percentile p: the lower bound of the band where the cumulative count (lowest band first) reaches ceil(p × count / 100). */
function percentileOf(bands: [number, number][], count: number, p: number): number | null {
  if (count === 0) return null;
  const target = Math.floor((p * count + 99) / 100);
  let cumulative = 0;
  for (const [band, n] of bands) {
    cumulative += n;
    if (cumulative >= target) return band;
  }
  throw new Error("the bands do not add up to the count");
}

/** round(fee × 1000 / vsize) / 1000, rounded half up, exact. */
const avgOf = (fee: number, vsize: number) => Number((2n * BigInt(fee) * 1000n + BigInt(vsize)) / (2n * BigInt(vsize))) / 1000;

/** One minute as GET /fee_rates_per_minute must show it (without its flag). */
function viewOf(startSec: number, m: MinuteFigures | undefined) {
  const bands = [...(m?.bands ?? new Map<number, number>())].sort((a, b) => a[0] - b[0]);
  const count = m?.count ?? 0;
  return {
    minute: new Date(startSec * 1000).toISOString().slice(11, 16),
    start: new Date(startSec * 1000).toISOString(),
    count,
    unknown_fee: m?.unknown ?? 0,
    total_fee: m?.fee ?? 0,
    total_vsize: m?.vsize ?? 0,
    avg_rate: m && count > 0 ? avgOf(m.fee, m.vsize) : null,
    min_rate: m?.min == null ? null : m.min / 1000,
    max_rate: m?.max == null ? null : m.max / 1000,
    p10: percentileOf(bands, count, 10),
    p50: percentileOf(bands, count, 50),
    p90: percentileOf(bands, count, 90),
    bands: bands.map(([from, n]) => ({ from, count: n })),
  };
}
type View = ReturnType<typeof viewOf>;

/** The 60 complete minutes before the one holding `nowMs`, oldest first. */
function expectedAnswer(txs: readonly Transaction[], nowMs: number, nowSec: number): View[] {
  const figures = figuresOf(txs, nowSec);
  const current = Math.floor(nowMs / 60_000) * 60;
  return Array.from({ length: MINUTES_SHOWN }, (_, i) => {
    const start = current - (MINUTES_SHOWN - i) * 60;
    return viewOf(start, figures.get(start));
  });
}

/** A minute's hash as redis-cli shows it: text fields, a figure that stayed zero not written. */
function hashOf(m: MinuteFigures): Record<string, string> {
  const h: Record<string, string> = {};
  if (m.unknown > 0) h.unknown_fee = String(m.unknown);
  if (m.count > 0) {
    Object.assign(h, { count: String(m.count), fee: String(m.fee), vsize: String(m.vsize), min_rate: String(m.min), max_rate: String(m.max) });
    for (const [band, n] of m.bands) h[`band:${band}`] = String(n);
  }
  return h;
}

// ---- the API -----------------------------------------------------------------------------------

type Flag = { complete: boolean; incomplete_reason?: string };
type Answer = Flag & { minutes: (View & Flag)[] };

/**
 * The app with the fee module as imported here; the registry's other projections beside it (the
 * app's shared parts, /stream and /health, need the feeds they offer). Whether or not the
 * registry lists fees, it is mounted once, this module.
 */
const projections = [fees, ...PROJECTIONS.filter((p) => p.role !== fees.role)];

function apiOf(env: TestEnv, now: () => number) {
  const probe = new KafkaProbe(env.kafka.admin(), env.config.TOPIC, []);
  const app = createApp({
    config: env.config,
    redis: env.redis,
    kafka: probe,
    projections,
    log: createLogger("fees-test", { ...env.config, LOG_LEVEL: "error" }),
    now,
    fresh: { shared: false },
  });
  const answer = async (): Promise<Answer> => {
    const res = await app.handle(new Request("http://localhost/fee_rates_per_minute"));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Answer;
    // The flag in the headers is the body's.
    expect(res.headers.get("x-complete")).toBe(String(body.complete));
    expect(res.headers.get("x-incomplete-reason")).toBe(body.incomplete_reason ?? null);
    return body;
  };
  return { answer, probe };
}

const withoutFlag = ({ complete: _c, incomplete_reason: _r, ...view }: View & Flag): View => view;

// ---- transactions made by hand -----------------------------------------------------------------

let serial = 0;
const hashFor = (n: number) => createHash("sha256").update(`fees-test-${n}`).digest("hex");

/**
 * A transaction with the given fee (null: an input without its value), size and weight (absent:
 * a version-1 record, written before `weight`). One output; its inputs are worth value + fee.
 */
function made(o: { time: number; fee: number | null; size: number; weight?: number | null }): Transaction {
  const n = serial++;
  const value = 10_000 + n;
  const inputs =
    o.fee === null
      ? [
          { address: "3CFAS6naqdjkawDpWkjfCxN2UxaaRcirZR", value: value + 700 },
          { address: null, value: null },
        ]
      : [{ address: "3CFAS6naqdjkawDpWkjfCxN2UxaaRcirZR", value: value + o.fee }];
  const base = {
    hash: hashFor(n),
    time: o.time,
    size: o.size,
    inputs,
    outputs: [{ address: "bc1qwn96dr8hmmxhcdvxkfgpwhr2vmlqa88lzdqasx", value }],
    value,
    fee: o.fee,
    received_at: o.time * 1000 + 700,
  };
  return o.weight === undefined ? { v: 1, ...base } : { v: SCHEMA_VERSION, ...base, weight: o.weight };
}

/** The same transaction as a record written before `weight` (version 1): its vsize is its size. */
function asVersion1(tx: Transaction): Transaction {
  const { weight: _w, v: _v, ...rest } = tx;
  return { v: 1, ...rest };
}

// ---- without Kafka: the projection's own apply, the API and redis-cli -------------------------------

describe("fee rates per minute, filled through the projection's apply", () => {
  const env = testEnv();
  const { config } = env;
  const redis = defineScripts(env.redis);
  // The middle of the current minute (the scripts' expiries are relative to it, pinned).
  const NOW_SEC = Math.floor(Date.now() / 60_000) * 60 + 30;
  const M = NOW_SEC - 30;
  const at = (minutesBack: number, second: number) => M - minutesBack * 60 + second;

  const txs: Transaction[] = [];
  // Many transactions over the hour: 0 to 22 a minute, with and without weight, a few unknown fees and zero fees.
  const rng = new Random(97);
  for (let back = 1; back <= MINUTES_SHOWN; back++) {
    for (let k = 0; k < (back * 7) % 23; k++) {
      const size = rng.int(120, 1500);
      const weight = rng.chance(0.2) ? null : rng.int(2 * size, 4 * size);
      const vbytes = weight === null ? size : Math.ceil(weight / 4);
      const fee = rng.chance(0.03) ? null : rng.chance(0.05) ? 0 : Math.round(rng.logNormal(8, 1.4) * vbytes);
      txs.push(made({ time: at(back, rng.int(0, 59)), fee, size, weight }));
    }
  }
  // Rates exactly on every band's edge (vsize 100: fee = 100 × bound), and 0.01 sat/vB below it.
  for (const bound of BANDS) {
    txs.push(made({ time: at(3, 5), fee: bound * 100, size: 100, weight: null }));
    txs.push(made({ time: at(3, 6), fee: bound * 100 - 1, size: 100, weight: null }));
  }
  // A zero fee, and a rate below 1 sat/vB (150 sat over ceil(800 / 4) = 200 vB: 0.75): both in band 1.
  const zero = made({ time: at(5, 10), fee: 0, size: 250, weight: 1000 });
  const belowOne = made({ time: at(4, 20), fee: 150, size: 320, weight: 800 });
  txs.push(zero, belowOne);
  // The weight decides: ceil(401 / 4) = 101 vB, so 1000 sat is 9.900 sat/vB (band 8), not 10 (band
  // 10, with the weight rounded down); ceil(1601 / 4) = 401 vB; a version-1 record and a null
  // weight take the size.
  txs.push(made({ time: at(7, 1), fee: 1000, size: 700, weight: 401 }));
  txs.push(made({ time: at(7, 2), fee: 4000, size: 500, weight: 1601 }));
  txs.push(made({ time: at(7, 3), fee: 3000, size: 300 }));
  txs.push(made({ time: at(7, 4), fee: 2999, size: 300, weight: null }));
  // Very high rates: 50 BTC over 150 vB, exactly 2000 sat/vB, and 1999.99 sat/vB (band 1800).
  txs.push(made({ time: at(9, 1), fee: 5_000_000_000, size: 150, weight: 600 }));
  txs.push(made({ time: at(9, 2), fee: 200_000, size: 100, weight: null }));
  txs.push(made({ time: at(9, 3), fee: 199_999, size: 100, weight: 400 }));
  // A minute of unknown fees only, and unknown fees beside known ones.
  // (minute 23 has no random transaction: (23 × 7) mod 23 = 0).
  txs.push(made({ time: at(23, 1), fee: null, size: 300, weight: 900 }), made({ time: at(23, 2), fee: null, size: 200 }));
  txs.push(made({ time: at(13, 1), fee: null, size: 300, weight: 900 }), made({ time: at(13, 2), fee: 5000, size: 200, weight: 650 }));
  // Kept but not shown: 119 minutes ago (its minute lives past now), and the current minute.
  const oldKept = made({ time: at(119, 15), fee: 3000, size: 200, weight: 800 });
  const current = made({ time: NOW_SEC - 10, fee: 4000, size: 200, weight: 800 });
  // Stale: its minute started 121 minutes ago, past the 2-hour keep; and one whose minute started
  // exactly 120 minutes before the current one (it ended 2 hours before now less 30 s).
  const stale = made({ time: at(121, 15), fee: 3000, size: 200, weight: 800 });
  const staleEdge = made({ time: at(120, 59), fee: 3000, size: 200, weight: 800 });
  txs.push(oldKept, current, stale, staleEdge);
  // A negative fee: the projection refuses it (its consumers dead-letter it).
  const negative = made({ time: at(15, 1), fee: -5, size: 200, weight: 800 });
  // Duplicates by hash: copies in the same calls, and again in a later call.
  const copies = txs.filter((_, i) => i % 17 === 0);
  const firstFill = [...txs, negative, ...copies];
  const secondFill = copies.slice(0, 10);
  const delivered = [...firstFill, ...secondFill];
  let filledAt = 0;

  const api = apiOf(env, () => NOW_SEC * 1000);
  afterAll(() => api.probe.close());

  const fill = async (batch: readonly Transaction[], atSec = NOW_SEC) => {
    const records = batch.filter((tx) => (fees.apply.refuse?.(tx) ?? null) === null).map((tx) => ({ tx, offset: "" }));
    const total = { applied: 0, duplicates: 0, stale: 0 };
    for (const reply of await runAll(redis, applyCalls(fees.apply, config, records, NO_POSITION, WHOLE, atSec))) {
      if (reply.status !== "applied") throw new Error(`applyFees refused: ${JSON.stringify(reply)}`);
      total.applied += reply.applied;
      total.duplicates += reply.duplicates;
      total.stale += reply.stale;
    }
    return total;
  };

  test("the projection refuses a negative fee, naming it, and takes an unknown or a zero fee", () => {
    expect(fees.apply.refuse?.(negative)).toMatch(/negative fee/);
    expect(fees.apply.refuse?.(zero) ?? null).toBeNull();
    expect(fees.apply.refuse?.(txs.find((tx) => tx.fee === null) as Transaction) ?? null).toBeNull();
  });

  test("each transaction counts once by hash; a minute older than the keep is stale", async () => {
    const unique = new Set(txs.map((tx) => tx.hash)).size;
    expect(unique).toBe(txs.length);
    expect(await fill(firstFill)).toEqual({ applied: txs.length - 2, duplicates: copies.length, stale: 2 });
    expect(await fill(secondFill)).toEqual({ applied: 0, duplicates: secondFill.length, stale: 0 });
    // On the edge: at the very second its minute's 2 hours end, a transaction is stale.
    const edge = made({ time: M - KEEP_SECONDS + 10, fee: 3000, size: 200, weight: 800 });
    expect(await fill([edge], M)).toEqual({ applied: 0, duplicates: 0, stale: 1 });
    filledAt = Date.now();
    await plant(redis, config, fees, level(NOW_SEC * 1000));
  });

  test("GET /fee_rates_per_minute equals the independent computation, minute by minute", async () => {
    const want = expectedAnswer(delivered, NOW_SEC * 1000, NOW_SEC);
    // The cases are in the answer: the hour's transactions, band edges, band 1, the 2000 band, unknown fees.
    expect(want.reduce((s, m) => s + m.count, 0)).toBeGreaterThan(500);
    expect(want.find((m) => m.bands.length >= 30)).toBeDefined();
    expect(want.some((m) => m.min_rate === 0)).toBe(true);
    expect(want.some((m) => m.min_rate === 0.75)).toBe(true);
    expect(want.some((m) => m.bands.some((b) => b.from === 2000 && b.count === 2) && m.max_rate === 33_333_333.333)).toBe(true);
    expect(want.some((m) => m.count === 0 && m.unknown_fee === 2)).toBe(true);
    const body = await api.answer();
    expect(body).toEqual({ complete: true, minutes: want.map((m) => ({ ...m, complete: true })) });
  });

  test("the edge cases, spelled out", async () => {
    const { minutes } = await api.answer();
    const back = (n: number) => minutes[MINUTES_SHOWN - n] as View;
    // The zero fee (minute 5) and the 0.75 sat/vB one (minute 4) are in band 1, the lowest rates of their minutes.
    expect(back(5).min_rate).toBe(0);
    expect(back(5).bands[0]?.from).toBe(1);
    expect(back(4).min_rate).toBe(0.75);
    expect(back(4).bands[0]?.from).toBe(1);
    // Minute 7: 9.900, 9.975, 10.000 and 9.996 sat/vB among its random ones.
    const seven = figuresOf(delivered, NOW_SEC).get(M - 7 * 60) as MinuteFigures;
    expect(back(7).bands).toEqual(viewOf(M - 7 * 60, seven).bands);
    // Minute 9: 33,333,333.333, 2000 and 1999.99 sat/vB.
    expect(back(9).max_rate).toBe(33_333_333.333);
    expect(back(9).bands.find((b) => b.from === 2000)?.count).toBe(2);
    expect(back(9).bands.find((b) => b.from === 1800)?.count).toBeGreaterThanOrEqual(1);
    // Minute 23: only unknown fees.
    expect(back(23)).toMatchObject({ count: 0, unknown_fee: 2, total_fee: 0, avg_rate: null, min_rate: null, p10: null, p50: null, p90: null, bands: [] });
  });

  test("redis-cli shows each minute as a hash of plain text fields, with a TTL of at most 2 hours", async () => {
    const figures = figuresOf(delivered, NOW_SEC);
    // Every minute written, and no other: the stale one is not, the old one and the current one are.
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${feeMinutePrefix(config)}*`, "COUNT", 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== "0");
    const minuteStarts = [...figures.keys()].sort((a, b) => a - b);
    expect(keys.sort()).toEqual(minuteStarts.map((m) => feeMinuteKey(config, m)).sort());
    expect(minuteStarts).toContain(oldKept.time - (oldKept.time % 60));
    expect(minuteStarts).toContain(M);
    expect(await redis.exists(feeMinuteKey(config, stale.time - (stale.time % 60)))).toBe(0);
    expect(await redis.exists(feeMinuteKey(config, staleEdge.time - (staleEdge.time % 60)))).toBe(0);
    const elapsed = Math.ceil((Date.now() - filledAt) / 1000) + 1;
    for (const m of minuteStarts) {
      const key = feeMinuteKey(config, m);
      expect(await redis.type(key)).toBe("hash");
      expect({ key, hash: await redis.hgetall(key) }).toEqual({ key, hash: hashOf(figures.get(m) as MinuteFigures) });
      // Every field is a decimal integer, as redis-cli prints it.
      for (const value of Object.values(await redis.hgetall(key))) expect(value).toMatch(/^(0|[1-9][0-9]*)$/);
      const ttl = await redis.ttl(key);
      const left = m + KEEP_SECONDS - NOW_SEC;
      expect({ key, ttl: ttl <= KEEP_SECONDS && ttl <= left && ttl >= left - elapsed }).toEqual({ key, ttl: true });
    }
    // A minute with every kind of transaction has every field, by name.
    const thirteen = Object.keys(await redis.hgetall(feeMinuteKey(config, M - 13 * 60)));
    expect(thirteen).toEqual(expect.arrayContaining(["count", "unknown_fee", "fee", "vsize", "min_rate", "max_rate", "band:30"]));
    expect(thirteen.filter((f) => !/^band:[0-9]+$/.test(f)).sort()).toEqual(["count", "fee", "max_rate", "min_rate", "unknown_fee", "vsize"]);
  });
});

// ---- with Kafka: the fee group's consumer ------------------------------------------------------

describe("the fee group on the Kafka log", () => {
  const env = testEnv();
  const { config } = env;
  const redis = defineScripts(env.redis);
  const T0 = Date.now();
  const T0_SEC = Math.floor(T0 / 1000);
  const log = createLogger("consumer-fees", { ...config, LOG_LEVEL: "error" });
  const runners: ConsumerRunner[] = [];
  // The answers are read at T0: every record is stamped before it.
  const api = apiOf(env, () => T0);
  afterAll(async () => {
    for (const r of runners) await bounded("stopping a fee consumer", () => r.stop());
    await api.probe.close();
  });

  // Real frames, re-stamped into the last hour; every other one given a weight (not a multiple of 4).
  const frames = readFileSync(join(import.meta.dir, "fixtures", "utx-sample.jsonl"), "utf8")
    .trim()
    .split("\n");
  const real = frames.map((line, i) => {
    const message = JSON.parse(line);
    message.x.time = T0_SEC - 50 * 60 + i * 70;
    if (i % 2 === 0) message.x.weight = 3 * message.x.size + (i % 4) + 1;
    const read = readFeedMessage(JSON.stringify(message), message.x.time * 1000 + 1_500);
    if (read.kind !== "tx") throw new Error(`fixture line ${i}: ${JSON.stringify(read)}`);
    return read.tx;
  });
  // Synthetic ones (the simulator's: most with a weight, a few unknown fees), a twentieth written as version 1.
  const synthetic = syntheticTransactions(1200, { seed: 83, addresses: 500, fromSec: T0_SEC - 55 * 60, toSec: T0_SEC - 2 * 60 }).map((tx, i) =>
    i % 20 === 0 ? asVersion1(tx) : tx,
  );
  // A negative fee in the middle of the hour: dead-lettered, its partition goes on.
  const base = synthetic[600] as Transaction;
  const negative: Transaction = {
    ...base,
    hash: hashFor(1_000_000),
    inputs: [{ address: "3CFAS6naqdjkawDpWkjfCxN2UxaaRcirZR", value: base.value - 5 }],
    fee: -5,
  };
  // Kept outside the answer (100 minutes ago), and stale (130 minutes ago, arriving late: stamped now).
  const older = made({ time: T0_SEC - 100 * 60, fee: 2500, size: 250, weight: 1000 });
  const stale = { ...made({ time: T0_SEC - 130 * 60, fee: 2500, size: 250, weight: 1000 }), received_at: T0 - 60_000 };
  const copies = synthetic.filter((_, i) => i % 25 === 0).map((tx) => ({ ...tx, received_at: tx.received_at + 2_000 }));
  const valid = [...real, ...synthetic, older, stale, ...copies];
  const late = synthetic.filter((_, i) => i % 40 === 7);
  // Records stamped at arrival (within L of their event time but the late one), in stamp order per partition.
  const messages = [...valid, negative]
    .map((tx): Message & { partition: number } => ({ ...txMessage(tx), timestamp: String(tx.received_at) }))
    .sort((a, b) => Number(a.timestamp) - Number(b.timestamp));
  const want = expectedAnswer(valid, T0, T0_SEC);

  const answerIsExact = (body: Answer) => body.complete && Bun.deepEquals(body.minutes.map(withoutFlag), want) && body.minutes.every((m) => m.complete);
  /** What an answer must never be: complete (whole or for a minute) while its figures differ from the expected ones. */
  function judge(body: Answer, when: string): string[] {
    const violations: string[] = [];
    if (body.complete !== (body.incomplete_reason === undefined)) violations.push(`${when}: complete ${body.complete} with reason ${body.incomplete_reason}`);
    if (body.complete && !Bun.deepEquals(body.minutes.map(withoutFlag), want)) violations.push(`${when}: the answer says complete and differs`);
    body.minutes.forEach((m, i) => {
      if (m.complete !== (m.incomplete_reason === undefined)) violations.push(`${when}: minute ${m.minute}: complete ${m.complete} with reason ${m.incomplete_reason}`);
      if (m.complete && !Bun.deepEquals(withoutFlag(m), want[i]))
        violations.push(`${when}: minute ${m.minute} says complete: ${JSON.stringify(withoutFlag(m))}, expected ${JSON.stringify(want[i])}`);
      if (body.complete && !m.complete) violations.push(`${when}: the answer says complete, minute ${m.minute} does not`);
    });
    return violations;
  }
  /** Polls the answer until it is exact and complete; every answer on the way is judged. */
  async function settled(what: string) {
    let answers = 0;
    let flagged = 0;
    const violations: string[] = [];
    await waitFor(
      what,
      async () => {
        const body = await api.answer();
        answers++;
        if (!body.complete) flagged++;
        violations.push(...judge(body, what));
        return answerIsExact(body);
      },
      45_000,
    );
    expect(violations).toEqual([]);
    return { answers, flagged };
  }

  async function startRunner() {
    const runner = createConsumerRunner({ config, group: processorOf(fees, config), log, kafka: env.kafka });
    runners.push(runner);
    await runner.start();
    return runner;
  }

  /** Redis loses this file's data: every key of the namespace (the test Redis is shared, no FLUSHALL). */
  async function loseData() {
    let cursor = "0";
    let n = 0;
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix(config)}*`, "COUNT", 5000);
      if (keys.length) n += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
    return n;
  }

  const group = groupId(config, fees);
  let runner: ConsumerRunner;
  let offsets: string[] = [];

  test("real and synthetic frames, with and without weight, applied by the fee consumer: the answer is exact and complete", async () => {
    // The population covers what it must: frames with and without weight, version-1 records, unknown fees.
    expect(valid.some((tx) => tx.weight === null)).toBe(true);
    expect(valid.some((tx) => typeof tx.weight === "number" && tx.weight % 4 !== 0)).toBe(true);
    expect(valid.some((tx) => tx.v === 1)).toBe(true);
    expect(valid.some((tx) => tx.fee === null)).toBe(true);
    expect(real.filter((tx) => tx.weight !== null).length).toBe(frames.length / 2);
    expect(want.filter((m) => m.count > 0).length).toBeGreaterThan(50);

    await createTopic(env.kafka, config);
    offsets = await produce(env.kafka, config.TOPIC, messages);
    runner = await startRunner();
    await waitCommitted(env.kafka, config.TOPIC, [group], 45_000);
    const first = await settled("the fee consumer to apply the log");
    console.log(`fees: first consumption: ${first.answers} answers read, ${first.flagged} flagged`);
    // Copies arriving later (stamped now), applied in calls of their own: duplicates, no figure changes.
    await produce(env.kafka, config.TOPIC, late.map(txMessage));
    await waitCommitted(env.kafka, config.TOPIC, [group], 45_000);
    await settled("the late copies to change nothing");
    const m = runner.metrics.snapshot();
    const unique = new Set(valid.map((tx) => tx.hash)).size;
    expect({
      applied: m[`consumer_${fees.role}_applied_total`],
      duplicates: m[`consumer_${fees.role}_duplicates_total`],
      stale: m[`consumer_${fees.role}_stale_total`],
      dead: m[`consumer_${fees.role}_dead_letters_total`],
    }).toEqual({ applied: unique - 1, duplicates: copies.length + late.length, stale: 1, dead: 1 });
    // The one kept outside the answer is in Redis; the stale one is not.
    expect(await redis.hget(feeMinuteKey(config, older.time - (older.time % 60)), "count")).toBe("1");
    expect(await redis.exists(feeMinuteKey(config, stale.time - (stale.time % 60)))).toBe(0);
  });

  test("a negative fee is dead-lettered with its reason, counted nowhere, and its partition moves past it", async () => {
    const at = messages.findIndex((m) => m.key === negative.hash);
    const partition = messages[at]?.partition as number;
    // Later records of its partition exist (and the exact answer above counted them).
    expect(messages.slice(at + 1).filter((m) => m.partition === partition).length).toBeGreaterThan(100);
    const [letter] = await readTopic(env.kafka, dlqTopic(config), 1);
    const headers = Object.fromEntries(Object.entries(letter?.headers ?? {}).map(([k, v]) => [k, String(v)]));
    expect(headers).toMatchObject({ source: group, topic: config.TOPIC, partition: String(partition), offset: offsets[at] });
    expect(headers.reason).toMatch(/negative fee/);
    expect(headers.reason).toMatch(/\b5 sat\b/);
    expect(letter?.value.toString()).toBe(JSON.stringify(negative));
  });

  test("Redis loses the namespace's keys while the consumer runs: it replays by itself, and no answer says complete before it is exact", async () => {
    expect(await loseData()).toBeGreaterThan(3);
    const healed = await settled("the consumer to replay the lost projection by itself");
    console.log(`fees: replay after the loss: ${healed.answers} answers read, ${healed.flagged} flagged`);
    // A replay of each partition at the first start (no position), and again after the loss.
    expect(runner.metrics.snapshot()[`consumer_${fees.role}_replays_total`]).toBeGreaterThanOrEqual(2 * config.TOPIC_PARTITIONS);
  });

  test("rebuild drops the projection and the consumer replays it: the same exact answer, never complete before", async () => {
    let polling = true;
    let polled = 0;
    let flagged = 0;
    const violations: string[] = [];
    const poller = (async () => {
      while (polling) {
        const body = await api.answer();
        violations.push(...judge(body, "during the rebuild"));
        polled++;
        if (!body.complete) flagged++;
        await Bun.sleep(20);
      }
    })();
    try {
      const [result] = await rebuild({ config, redis, projections: [fees], roles: [fees.role], partitions: 3 });
      expect(result).toMatchObject({ role: fees.role, group, replaying: true, replayed: messages.length + late.length });
      expect(result?.deletedKeys).toBeGreaterThan(0);
    } finally {
      polling = false;
      await poller;
    }
    expect(polled).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    console.log(`fees: during the rebuild: ${polled} answers read, ${flagged} flagged`);
    await settled("the answer after the rebuild");
  });

  test("Redis loses its data while no consumer runs: the answer says replaying, then a consumer replays it exactly", async () => {
    await runner.stop();
    await loseData();
    const lost = await api.answer();
    expect(judge(lost, "with no consumer")).toEqual([]);
    expect({ complete: lost.complete, reason: lost.incomplete_reason }).toEqual({ complete: false, reason: "replaying" });
    expect(lost.minutes.every((m) => m.complete === false && m.incomplete_reason === "replaying" && m.count === 0)).toBe(true);
    runner = await startRunner();
    await settled("a new consumer to replay");
    // Replays skip the records dead-lettered before: the negative fee has one letter still.
    expect((await readTopic(env.kafka, dlqTopic(config), 1)).length).toBe(1);
  });
});
