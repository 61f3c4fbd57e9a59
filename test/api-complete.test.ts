/**
 * Exact or flagged (issue 17, item 1): every data answer says whether its figures are final, in the
 * body (`complete`, `incomplete_reason`) and the headers (`X-Complete`, `X-Incomplete-Reason`).
 * Through `app.handle` against the run-wide real Redis, with what the consumers record of each
 * partition planted by hand (test/helpers/coverage.ts) and the app's clock pinned: complete when
 * every partition is covered and level; replaying, log_gap and behind as src/domain/coverage.ts
 * defines them; the OpenAPI document lists the flag on every data route.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { apiContext, createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import type { ApiProjection } from "../src/api/projection.ts";
import { redisStore } from "../src/api/store-redis.ts";
import { loadConfig } from "../src/domain/config.ts";
import { FUTURE_SLACK_MS, INCOMPLETE_REASONS, LATENESS_MS } from "../src/domain/coverage.ts";
import { createLogger } from "../src/domain/log.ts";
import { shardsOf } from "../src/domain/projection.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { minuteOf, windowStart } from "../src/domain/window.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { producerHeldKey } from "../src/redis/keys.ts";
import { fill } from "../tools/testkit/fill.ts";
import { forget, level, type PlantedPartition, plant } from "./helpers/coverage.ts";
import { testEnv } from "./helpers/env.ts";

const { config, env, kafka, redis } = testEnv();
const log = createLogger("api-complete-test", config);

// The middle of the current minute, as in api-data.test.ts.
const NOW_SEC = minuteOf(Math.floor(Date.now() / 1000)) + 30;
const NOW = NOW_SEC * 1000;
const MIN = 60_000;
/** Start of the first of the 60 minutes /transactions_count_per_minute lists. */
const FIRST_MINUTE = minuteOf(NOW_SEC) * 1000 - 60 * MIN;

const apiRedis = connectRedis(config.REDIS_URL);
// A probe that has never run: the partitions are TOPIC_PARTITIONS (3) and whatever Redis names.
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
const app = createApp({ config, redis: apiRedis, kafka: probe, projections: PROJECTIONS, log, now: () => NOW, fresh: { shared: false } });
const get = (path: string, on = app) => on.handle(new Request(`http://localhost${path}`));

const UNKNOWN = "ab".repeat(32);
/** The GET routes a projection's API part mounts (Elysia's `/x/:param` form), on a context like the app's. */
const mounted = (p: ApiProjection): string[] =>
  p.api
    .routes(apiContext({ config, redis: apiRedis, now: () => NOW, fresh: { shared: false } }, redisStore(apiRedis, config, PROJECTIONS), () => 3))
    .routes.filter((r) => r.method === "GET")
    .map((r) => r.path);
/** A mounted path as the OpenAPI document writes it. */
const openApiPath = (path: string) => path.replace(/:([^/]+)/g, "{$1}");
type Doc = { paths: Record<string, { get: { parameters?: { in: string; name: string; schema: { example?: string } }[] } }> };
const DOC = (await (await get("/swagger/json")).json()) as Doc;
/** A request path for a mounted route: each path parameter its documented example (a transaction id no transaction has). */
function asked(path: string): string {
  const params = DOC.paths[openApiPath(path)]?.get.parameters ?? [];
  return path.replace(/:([^/]+)/g, (_, name: string) => {
    const example = params.find((p) => p.in === "path" && p.name === name)?.schema.example;
    if (example === undefined) throw new Error(`${path}: no documented example for the path parameter ${name}`);
    return encodeURIComponent(example);
  });
}
/** Every data route of every projection, as it mounts them. */
const ROUTES = PROJECTIONS.flatMap(mounted);
/** Each data route as a client asks it. */
const ASKED = ROUTES.map(asked);

type Flag = { complete: boolean; incomplete_reason?: string };
/** The flag of an answer, checked to be the same in the body and the headers. */
async function flagOf(path: string, on = app): Promise<Flag & { body: Record<string, unknown> }> {
  const res = await get(path, on);
  expect([200, 404]).toContain(res.status);
  const body = (await res.json()) as Flag & Record<string, unknown>;
  expect(res.headers.get("x-complete")).toBe(String(body.complete));
  expect(res.headers.get("x-incomplete-reason")).toBe(body.incomplete_reason ?? null);
  expect(body.complete === false).toBe(body.incomplete_reason !== undefined);
  return { complete: body.complete, ...(body.incomplete_reason ? { incomplete_reason: body.incomplete_reason } : {}), body };
}
const flags = async () => Object.fromEntries(await Promise.all(ASKED.map(async (path) => [path, (({ body: _, ...f }) => f)(await flagOf(path))])));
const every = (flag: Flag) => Object.fromEntries(ASKED.map((path) => [path, flag]));

/** Every group level with the log through now, but `partitions` planted over it for each group. */
async function state(partitions: PlantedPartition[] = []) {
  for (const p of PROJECTIONS) {
    await forget(redis, config, p);
    await plant(redis, config, p, level(NOW));
    await plant(redis, config, p, partitions);
  }
}

beforeEach(() => state());

describe("each data answer, in the body and the headers", () => {
  test("every projection mounts data routes, and each is asked", () => {
    for (const p of PROJECTIONS) expect([p.role, mounted(p).length > 0]).toEqual([p.role, true]);
    expect(ASKED).toHaveLength(ROUTES.length);
  });

  test("complete when every partition is covered since the log began and level through now", async () => {
    expect(await flags()).toEqual(every({ complete: true }));
  });

  test("replaying while a partition has no position (a replay is starting)", async () => {
    await state([{}, {}, { position: null }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "replaying" }));
  });

  test("replaying while a partition's replay has not reached now (position below until, through old)", async () => {
    await state([{}, { position: 4, until: 10, throughMs: NOW - 3 * 3600_000 }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "replaying" }));
  });

  test("a partition Redis knows nothing of, beyond TOPIC_PARTITIONS but named there, counts too", async () => {
    await state([{}, {}, {}, { position: 3, until: 10, throughMs: NOW - 3 * 3600_000 }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "replaying" }));
  });

  test("behind when a partition that is not replaying has not been applied through the span (the last minute's end, now less L)", async () => {
    await state([{ throughMs: NOW - 2 * MIN }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "behind" }));
    // Within L of now: in flight, still complete.
    await state([{ throughMs: NOW - LATENESS_MS + 1_000 }]);
    expect(await flags()).toEqual(every({ complete: true }));
  });

  test("log_gap for a gap the log lost inside the span, and for a log that begins after the span's start", async () => {
    await state([{}, { gaps: [[NOW - 30 * MIN, NOW - 29 * MIN]] }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "log_gap" }));
    await state([{ coversFromMs: NOW - 40 * MIN }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "log_gap" }));
  });

  test("replaying is named before log_gap before behind when several apply", async () => {
    await state([{ throughMs: NOW - 60_000 }, { gaps: [[NOW - 30 * MIN, NOW - 29 * MIN]] }, { position: null }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "replaying" }));
    await state([{ throughMs: NOW - 60_000 }, { gaps: [[NOW - 30 * MIN, NOW - 29 * MIN]] }]);
    expect(await flags()).toEqual(every({ complete: false, incomplete_reason: "log_gap" }));
  });

  test("?format=text carries the flag in the headers", async () => {
    await state([{ throughMs: NOW - 60_000 }]);
    const asked: [string, Record<string, string>][] = [
      ["?format=text", {}],
      ["", { accept: "text/plain" }],
    ];
    for (const [query, headers] of asked) {
      const res = await app.handle(new Request(`http://localhost/transactions_count_per_minute/0${query}`, { headers }));
      expect(res.headers.get("content-type")).toStartWith("text/plain");
      expect(res.headers.get("x-complete")).toBe("false");
      expect(res.headers.get("x-incomplete-reason")).toBe("behind");
    }
  });

  test("a page of another origin may read the flag (CORS exposes the headers)", async () => {
    const res = await app.handle(new Request("http://localhost/high_value_addr", { headers: { origin: "http://elsewhere.example" } }));
    expect(res.headers.get("access-control-expose-headers")?.toLowerCase().split(/,\s*/)).toEqual(expect.arrayContaining(["x-complete", "x-incomplete-reason"]));
  });
});

describe("per minute and per hour", () => {
  type Item = Flag & { start: string; count: number; open?: boolean };
  const items = async (path: string, key: "minutes" | "hours") => {
    const { body, ...whole } = await flagOf(path);
    return { whole, items: body[key] as Item[] };
  };

  test("a gap flags the minutes whose transactions it can hold, and the hour; the rest stay complete", async () => {
    // Stamps lost in [now-30 min, now-29 min): minutes of event time from then less L, to then plus FUTURE_SLACK_MS, can miss records.
    const gap: [number, number] = [NOW - 30 * MIN, NOW - 29 * MIN];
    await state([{}, { gaps: [gap] }]);
    const { whole, items: minutes } = await items("/transactions_count_per_minute/0", "minutes");
    expect(whole).toEqual({ complete: false, incomplete_reason: "log_gap" });
    expect(minutes).toHaveLength(60);
    for (const m of minutes) {
      const start = Date.parse(m.start);
      const touched = start - FUTURE_SLACK_MS < gap[1] && start + MIN + LATENESS_MS > gap[0];
      expect([m.start, m.complete, m.incomplete_reason]).toEqual([m.start, !touched, touched ? "log_gap" : undefined]);
    }
    expect(minutes.filter((m) => m.complete).length).toBeGreaterThan(30);

    const { whole: day, items: hours } = await items("/transactions_count_per_hour", "hours");
    expect(day).toEqual({ complete: false, incomplete_reason: "log_gap" });
    for (const h of hours) {
      const start = Date.parse(h.start);
      const touched = start - FUTURE_SLACK_MS < gap[1] && start + 3600_000 + LATENESS_MS > gap[0];
      expect([h.start, h.complete]).toEqual([h.start, !touched]);
      expect(h.open).toBe(start === Math.floor(NOW / 3600_000) * 3600_000);
    }
  });

  test("the current hour is open, and complete so far when every partition is level", async () => {
    const { whole, items: hours } = await items("/transactions_count_per_hour", "hours");
    expect(whole).toEqual({ complete: true });
    expect(hours.map((h) => [h.open, h.complete])).toEqual(hours.map((_, i) => [i === 23, true]));
  });

  test("behind: the minutes applied through are complete, the later ones not", async () => {
    const through = FIRST_MINUTE + 40 * MIN;
    await state([{}, {}, { throughMs: through }]);
    const { whole, items: minutes } = await items("/transactions_count_per_minute/0", "minutes");
    expect(whole).toEqual({ complete: false, incomplete_reason: "behind" });
    // A minute is complete once its records (stamped up to L after its end) are all applied.
    expect(minutes.map((m) => m.complete)).toEqual(minutes.map((m) => Date.parse(m.start) + MIN + LATENESS_MS <= through));
  });

  test("a span a producer held long, which Kafka has taken since: the minutes that can hold it stay behind until every partition has passed the moment it was taken", async () => {
    // Kafka took it 2 s ago; partition 2 is applied through 3 s ago: within L of now, level by itself.
    const [since, taken] = [NOW - 20 * MIN, NOW - 2_000];
    await redis.hset(producerHeldKey(config), "p1:flushed", JSON.stringify({ held_since_ms: since, flushed_ms: taken }));
    try {
      await state([{}, {}, { throughMs: NOW - 3_000 }]);
      const { whole, items: minutes } = await items("/transactions_count_per_minute/0", "minutes");
      expect(whole).toEqual({ complete: false, incomplete_reason: "behind" });
      // Held since `since`: a minute can hold what arrived then once it ends within L of it.
      expect(minutes.map((m) => m.complete)).toEqual(minutes.map((m) => Date.parse(m.start) + MIN + LATENESS_MS <= since));
      expect(minutes.filter((m) => m.complete).length).toBeGreaterThan(30);
      // Every partition applied through the moment Kafka took it: complete, the report kept or not.
      await state([{}, {}, { throughMs: taken }]);
      expect((await items("/transactions_count_per_minute/0", "minutes")).whole).toEqual({ complete: true });
    } finally {
      await redis.del(producerHeldKey(config));
    }
  });

  test("min_value filters incomplete minutes out; the answer as a whole stays incomplete", async () => {
    await state([{ gaps: [[NOW - 30 * MIN, NOW - 29 * MIN]] }]);
    const { whole, body } = await (async () => {
      const { body, ...f } = await flagOf("/transactions_count_per_minute/1");
      return { whole: f, body };
    })();
    expect(body.minutes).toEqual([]); // nothing stored: every minute counts 0, none listed
    expect(whole).toEqual({ complete: false, incomplete_reason: "log_gap" });
  });
});

describe("GET /show_transactions/: the span the list shows", () => {
  let serial = 0;
  const tx = (time: number): Transaction => {
    const n = serial++;
    return {
      v: SCHEMA_VERSION,
      hash: createHash("sha256").update(`complete-${n}`).digest("hex"),
      time,
      size: 100,
      weight: 400,
      inputs: [{ address: "addr-in", value: 2_000 }],
      outputs: [{ address: "addr-out", value: 1_000 }],
      value: 1_000,
      fee: 1_000,
      received_at: time * 1000,
    };
  };

  test("from the oldest listed transaction when `limit` are listed, from the window's start when fewer", async () => {
    // Three stored, 10, 5 and 1 minutes ago; the log lost stamps 20 minutes ago.
    const stored = [tx(NOW_SEC - 600), tx(NOW_SEC - 300), tx(NOW_SEC - 60)];
    await fill(redis, config, stored, { at: NOW_SEC, roles: ["transactions"] });
    await state([{ gaps: [[NOW - 20 * MIN, NOW - 19 * MIN]] }]);
    const at = async (limit: number) => (({ body: _, ...f }) => f)(await flagOf(`/show_transactions/?limit=${limit}`));
    expect(await at(1)).toEqual({ complete: true });
    expect(await at(2)).toEqual({ complete: true });
    // 10 minutes back: a record's time can be FUTURE_SLACK_MS (5 min) after its stamp, so the span's stamps start 15 min back; the gap ends 19 min back.
    expect(await at(3)).toEqual({ complete: true });
    // Fewer listed than asked: the whole window must be held, and the gap is in it.
    expect(await at(4)).toEqual({ complete: false, incomplete_reason: "log_gap" });
    expect(await at(100)).toEqual({ complete: false, incomplete_reason: "log_gap" });
    const listed = (await flagOf("/show_transactions/?limit=4")).body.transactions as { hash: string }[];
    expect(listed.map((t) => t.hash)).toEqual(stored.map((t) => t.hash).reverse());
  });

  test("a transaction found is complete; a 404 is complete only when the projection holds the whole window", async () => {
    const found = tx(NOW_SEC - 120);
    await fill(redis, config, [found], { at: NOW_SEC, roles: ["transactions"] });
    await state([{ position: null }]);
    const res = await get(`/transactions/${found.hash}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-complete")).toBe("true");
    expect((await res.json()).complete).toBe(true);
    const missing = await get(`/transactions/${UNKNOWN}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "not_found", complete: false, incomplete_reason: "replaying" });
    // A gap before the window does not matter to it; one inside does.
    await state([{ gaps: [[windowStart(NOW_SEC) * 1000 - 30 * MIN - FUTURE_SLACK_MS, windowStart(NOW_SEC) * 1000 - 20 * MIN - FUTURE_SLACK_MS]] }]);
    expect((await flagOf(`/transactions/${UNKNOWN}`)).complete).toBe(true);
    await state([{ gaps: [[windowStart(NOW_SEC) * 1000 + MIN, windowStart(NOW_SEC) * 1000 + 2 * MIN]] }]);
    expect((await flagOf(`/transactions/${UNKNOWN}`)).incomplete_reason).toBe("log_gap");
  });
});

describe("GET /high_value_addr with the address projection in shards", () => {
  const addresses = projectionOf("addresses") as Projection;
  const sharded = loadConfig({ ...env, ADDRESS_SHARDS: "3" });
  const shardedApp = createApp({ config: sharded, redis: apiRedis, kafka: probe, projections: PROJECTIONS, log, now: () => NOW, fresh: { shared: false } });

  test("complete only while every shard is: one replaying flags the whole window", async () => {
    const shards = shardsOf(addresses, sharded);
    expect(shards).toHaveLength(3);
    for (const shard of shards) await plant(redis, sharded, addresses, level(NOW), shard);
    expect((({ body: _, ...f }) => f)(await flagOf("/high_value_addr", shardedApp))).toEqual({ complete: true });
    await plant(redis, sharded, addresses, [{}, { position: 2, until: 9, throughMs: NOW - 3600_000 }], shards[1]);
    expect((({ body: _, ...f }) => f)(await flagOf("/high_value_addr?side=sent", shardedApp))).toEqual({ complete: false, incomplete_reason: "replaying" });
    for (const shard of shards) await forget(redis, sharded, addresses, shard);
  });
});

describe("the OpenAPI document", () => {
  test("every data route (a JSON 200 outside operations) documents complete, incomplete_reason and the headers", async () => {
    const spec = await (await get("/swagger/json")).json();
    type Op = { tags: string[]; responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, unknown> } }>; headers?: object }> };
    const data = Object.entries(spec.paths as Record<string, { get: Op }>).filter(
      ([, item]) => !item.get.tags.includes("operations") && item.get.responses["200"]?.content?.["application/json"],
    );
    // The data routes are exactly the projections' routes.
    expect(data.map(([path]) => path).sort()).toEqual(ROUTES.map(openApiPath).sort());
    for (const [path, { get: op }] of data) {
      const statuses = path === "/transactions/{hash}" ? ["200", "404"] : ["200"];
      for (const status of statuses) {
        const response = op.responses[status];
        const props = response?.content?.["application/json"]?.schema.properties ?? {};
        expect([path, status, props.complete]).toEqual([path, status, expect.objectContaining({ type: "boolean" })]);
        expect([path, status, props.incomplete_reason]).toEqual([path, status, expect.objectContaining({ enum: [...INCOMPLETE_REASONS] })]);
        // The flag's headers, then HTTP caching's (respond.ts, test/http-cache.test.ts).
        expect([path, status, Object.keys(response?.headers ?? {})]).toEqual([path, status, ["X-Complete", "X-Incomplete-Reason", "ETag", "Cache-Control", "Vary"]]);
      }
    }
    const words = spec.paths["/high_value_addr"].get.responses["200"].content["application/json"].schema.properties.incomplete_reason.description as string;
    for (const reason of INCOMPLETE_REASONS) expect(words).toContain(`\`${reason}\``);
  });
});
