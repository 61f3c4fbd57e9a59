/**
 * Answers as fresh as Redis (src/api/fresh.ts): each answer is kept until its projection's
 * version moves, checked at most every CHECK_MS (a check taken until it is REUSE_MS old), and read
 * again at most once per COALESCE_MS.
 * The app's clock is driven by the test, so every step is exact: no timing in here. Redis is
 * written through the consumers' own scripts (tools/testkit/fill.ts), which move the versions;
 * every command the API sends is recorded.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { apiContext, createApp } from "../src/api/app.ts";
import { CHECK_MS, COALESCE_MS, Freshness, REUSE_MS } from "../src/api/fresh.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import type { Check } from "../src/api/store.ts";
import { redisStore } from "../src/api/store-redis.ts";
import { LATENESS_MS } from "../src/domain/coverage.ts";
import { createLogger } from "../src/domain/log.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { minuteOf } from "../src/domain/window.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { txBodyKey } from "../src/projections/transactions/keys.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { producerHeldKey } from "../src/redis/keys.ts";
import { fill } from "../tools/testkit/fill.ts";
import { level, plant } from "./helpers/coverage.ts";
import { testEnv } from "./helpers/env.ts";
import { recorded } from "./helpers/recorded.ts";
import { askedRoutes } from "./helpers/routes.ts";

const { config, kafka, redis } = testEnv();
const log = createLogger("fresh-test", { ...config, LOG_LEVEL: "error" });

// The middle of the current minute, so the scripts' expiries (relative to it) hold.
const NOW_SEC = minuteOf(Math.floor(Date.now() / 1000)) + 30;
let clockMs = NOW_SEC * 1000;

const apiRedis = connectRedis(config.REDIS_URL);
const sent = recorded(apiRedis);
afterAll(() => apiRedis.disconnect());

const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
const app = createApp({ config, redis: apiRedis, kafka: probe, projections: PROJECTIONS, log, now: () => clockMs });
const get = (path: string) => app.handle(new Request(`http://localhost${path}`));

let serial = 0;
function tx(time: number, value: number): Transaction {
  const n = serial++;
  const address = `addr-${n % 5}`;
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`fresh-${n}`).digest("hex"),
    time,
    size: 250,
    weight: 1000,
    inputs: [{ address, value: value + 100 }],
    outputs: [{ address, value }],
    value,
    fee: 100,
    received_at: time * 1000,
  };
}

const M = minuteOf(NOW_SEC);
await fill(redis, config, [tx(M - 120, 1_000), tx(M - 90, 2_000), tx(M - 30, 3_000)], { at: NOW_SEC });
// Every partition of every projection level with the log a minute past the start.
for (const p of PROJECTIONS) await plant(redis, config, p, level((NOW_SEC + 60) * 1000));

/** Every data route of every projection of the registry, as a client asks it. */
const context = apiContext({ config, redis: apiRedis, fresh: { shared: false } }, redisStore(apiRedis, config, PROJECTIONS), () => 3);
const paths = (await Promise.all(PROJECTIONS.map((p) => askedRoutes(app, p, context)))).flat();
sent.length = 0;

/** Is `command` one of the API's checks: a projection's version, or the producers' held reports? */
const isCheck = (command: string) => /^get \S+:version$/.test(command) || command === `hgetall ${producerHeldKey(config)}`;
/** The commands sent since the last call, but the checks. */
function reads(): string[] {
  const out = sent.filter((c) => !isCheck(c));
  sent.length = 0;
  return out;
}
const newest = async () => ((await (await get("/show_transactions?limit=1")).json()) as { transactions: { hash: string }[] }).transactions[0]?.hash;
const lastMinuteCount = async () => {
  const body = (await (await get("/transactions_count_per_minute/0")).json()) as { minutes: { count: number }[] };
  return body.minutes.at(-1)?.count;
};

/** Past every window: the last check too old to be taken, and the coalescing window of the last reading over. */
const SETTLED_MS = REUSE_MS + COALESCE_MS;

beforeEach(() => {
  // Past any window a test left open: the next request checks and reads.
  clockMs += SETTLED_MS;
});

describe("answers follow the versions", () => {
  test("with no writes, requests cost the API only its checks: one a CHECK_MS, whatever the number of requests", async () => {
    expect(paths.length).toBeGreaterThan(PROJECTIONS.length - 1);
    for (const path of paths) expect([path, (await get(path)).status]).toEqual([path, expect.any(Number)]);
    reads();
    for (let step = 0; step < 10; step++) {
      clockMs += CHECK_MS;
      for (let i = 0; i < 3; i++) for (const path of paths) expect((await get(path)).status).toBeLessThan(500);
    }
    const all = [...sent];
    // A hash asked by /transactions/{hash} is read each time (one GET of its body): nothing else is.
    const bodyGet = (c: string) => c.startsWith(`get ${txBodyKey(config, "")}`);
    expect(reads().filter((c) => !bodyGet(c))).toEqual([]);
    // One check a step: each projection's version (one GET a shard) and the held reports, once.
    expect(all.filter((c) => c === `hgetall ${producerHeldKey(config)}`).length).toBe(10);
  });

  test("checks happen once per CHECK_MS: every projection's version and the held reports, then nothing more until the clock moves", async () => {
    await get("/show_transactions?limit=1");
    sent.length = 0;
    clockMs += CHECK_MS;
    for (let i = 0; i < 5; i++) await get("/show_transactions?limit=1");
    const versions = sent.filter((c) => /^get \S+:version$/.test(c));
    expect(versions.length).toBe(PROJECTIONS.length);
    expect(sent.filter((c) => c === `hgetall ${producerHeldKey(config)}`).length).toBe(1);
    expect(sent.filter((c) => !isCheck(c))).toEqual([]);
  });

  test("a write shows in the next answer once the check and the coalescing window have passed", async () => {
    const before = await newest();
    const count = await lastMinuteCount();
    const late = tx(M - 20, 5_000);
    await fill(redis, config, [late], { at: NOW_SEC });
    // Within the same check: the answer kept, nothing read.
    reads();
    expect(await newest()).toBe(before);
    expect(reads()).toEqual([]);
    clockMs += SETTLED_MS;
    expect(await newest()).toBe(late.hash);
    expect(await lastMinuteCount()).toBe((count as number) + 1);
  });

  test("a burst of writes within the coalescing window costs one reading, which has them all", async () => {
    // A reading now: the first write after a quiet spell is read at once; those within COALESCE_MS of it wait.
    const first = tx(M - 16, 1);
    await fill(redis, config, [first], { at: NOW_SEC, roles: ["transactions"] });
    expect(await newest()).toBe(first.hash);
    reads();
    const burst = [tx(M - 15, 1), tx(M - 14, 2), tx(M - 13, 3)];
    for (const t of burst) {
      await fill(redis, config, [t], { at: NOW_SEC, roles: ["transactions"] });
      clockMs += CHECK_MS;
      await newest(); // the version moved, but the answer was read less than COALESCE_MS ago
    }
    expect(reads().filter((c) => c.startsWith("zrevrangebyscore"))).toEqual([]);
    clockMs += COALESCE_MS;
    expect(await newest()).toBe(burst.at(-1)?.hash);
    const read = reads();
    expect(read.filter((c) => c.startsWith("zrevrangebyscore")).length).toBe(1);
    // Only the bodies the last reading did not list are fetched (newest first, as the index lists them).
    expect(read.filter((c) => c.startsWith("mget"))).toEqual([
      `mget ${[...burst]
        .reverse()
        .map((t) => txBodyKey(config, t.hash))
        .join(" ")}`,
    ]);
  });
});

describe("what moves on time", () => {
  test("an answer turns `behind` on time with no write, and reads nothing for it", async () => {
    const complete = (await (await get("/show_transactions?limit=1")).json()) as { complete: boolean };
    expect(complete.complete).toBe(true);
    reads();
    const saved = clockMs;
    try {
      // The coverage says level through NOW + 60 s: past that plus LATENESS_MS, the consumers have not kept up.
      clockMs = (NOW_SEC + 60) * 1000 + LATENESS_MS + 1_000;
      const late = (await (await get("/show_transactions?limit=1")).json()) as { complete: boolean; incomplete_reason?: string };
      expect(late).toMatchObject({ complete: false, incomplete_reason: "behind" });
      expect(reads().filter((c) => !c.startsWith("zrevrangebyscore"))).toEqual([]);
    } finally {
      clockMs = saved;
    }
  });

  test("a new minute is a new answer: the last hour's minutes move with the clock", async () => {
    const first = async () => ((await (await get("/transactions_count_per_minute/0")).json()) as { minutes: { start: string }[] }).minutes[0]?.start;
    const before = await first();
    const saved = clockMs;
    try {
      clockMs += 60_000;
      expect(Date.parse((await first()) as string) - Date.parse(before as string)).toBe(60_000);
    } finally {
      clockMs = saved;
    }
  });

  test("a producer holding transactions turns the open spans `behind` once its report is older than LATENESS_MS, read by the checks", async () => {
    const key = producerHeldKey(config);
    await redis.hset(key, "p1", JSON.stringify({ held_since_ms: clockMs - LATENESS_MS - 1_000, written_ms: clockMs }));
    try {
      // Past REUSE_MS: the request waits for a new check (within it, the last one's answer serves while a new one is under way).
      clockMs += REUSE_MS;
      const body = (await (await get("/show_transactions?limit=1")).json()) as { complete: boolean; incomplete_reason?: string };
      expect(body).toMatchObject({ complete: false, incomplete_reason: "behind" });
    } finally {
      await redis.del(key);
    }
    clockMs += REUSE_MS;
    expect(((await (await get("/show_transactions?limit=1")).json()) as { complete: boolean }).complete).toBe(true);
  });
});

describe("/metrics", () => {
  /** A counter's value in /metrics' text (0 when absent). */
  const counter = async (line: string) => {
    const text = await (await get("/metrics")).text();
    return Number(
      text
        .split("\n")
        .find((l) => l.startsWith(`${line} `))
        ?.split(" ")[1] ?? 0,
    );
  };
  const readings = 'api_readings_total{projection="transactions"}';

  test("counts the checks and the readings: no reading without a write, one after", async () => {
    await newest();
    const [checks, before] = [await counter("api_version_checks_total"), await counter(readings)];
    expect(checks).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) {
      clockMs += CHECK_MS;
      await newest();
    }
    expect(await counter(readings)).toBe(before);
    expect(await counter("api_version_checks_total")).toBeGreaterThanOrEqual(checks + 3);
    await fill(redis, config, [tx(M - 10, 7)], { at: NOW_SEC, roles: ["transactions"] });
    clockMs += SETTLED_MS;
    await newest();
    expect(await counter(readings)).toBe(before + 1);
  });
});

describe("checks under way", () => {
  test("a request takes the last answered check while the next is under way, if it is less than REUSE_MS old; past that it waits", async () => {
    let clock = 0;
    const answers: ((c: Check) => void)[] = [];
    const fresh = new Freshness(
      () => new Promise<Check>((resolve) => answers.push(resolve)),
      () => clock,
    );
    const check = (n: number): Check => ({ versions: new Map([["counts", String(n)]]), held: [] });
    const first = fresh.check();
    answers[0]?.(check(1));
    expect((await first).versions.get("counts")).toBe("1");
    clock += CHECK_MS; // a new check starts; the last answer serves meanwhile
    expect((await fresh.check()).versions.get("counts")).toBe("1");
    expect(answers.length).toBe(2);
    clock = REUSE_MS - 1; // still taken, and no second check starts while one is under way
    expect((await fresh.check()).versions.get("counts")).toBe("1");
    expect(answers.length).toBe(2);
    clock = REUSE_MS; // the last answer is now REUSE_MS old: wait for the one under way
    let settled = false;
    const waiting = fresh.check().then((c) => {
      settled = true;
      return c;
    });
    await Bun.sleep(0);
    expect(settled).toBe(false);
    answers[1]?.(check(2));
    expect((await waiting).versions.get("counts")).toBe("2");
    expect(answers.length).toBe(2);
  });
});
