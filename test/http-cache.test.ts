/**
 * HTTP caching that proxies and browsers understand (issue 19, item 2): every data answer carries
 * a strong ETag of its body as sent (its flag included), If-None-Match answers 304 without a body
 * until the answer changes, Cache-Control follows the flag, and Vary names only what changes an
 * answer. Through `app.handle` against the run-wide real Redis, seeded through the groups' own
 * scripts (tools/testkit/fill.ts) with the scripts' and the app's clocks pinned, and no answer
 * shared between requests (cacheMs 0): each request renders anew, so a 304 shows that the new
 * render is the same, not that a cache held the old one.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { apiContext, createApp } from "../src/api/app.ts";
import { etagOf, Rendered } from "../src/api/cache.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import type { ApiProjection } from "../src/api/projection.ts";
import { COMPLETE_CACHE, INCOMPLETE_CACHE, jsonOrText, noneMatch } from "../src/api/respond.ts";
import { redisStore } from "../src/api/store-redis.ts";
import { loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { minuteOf } from "../src/domain/window.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { fill } from "../tools/testkit/fill.ts";
import { forget, level, type PlantedPartition, plant } from "./helpers/coverage.ts";
import { testEnv } from "./helpers/env.ts";

const { config, env, kafka, redis } = testEnv();
const log = createLogger("http-cache-test", config);

// The middle of the current minute, as in api-data.test.ts: 30 s from either minute boundary.
const NOW_SEC = minuteOf(Math.floor(Date.now() / 1000)) + 30;
const M = minuteOf(NOW_SEC);
const MIN = 60_000;
let clockMs = NOW_SEC * 1000;

const apiRedis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
const makeApp = (cfg = config) => createApp({ config: cfg, redis: apiRedis, kafka: probe, projections: PROJECTIONS, log, now: () => clockMs, fresh: { shared: false } });
const app = makeApp();
/** Origins CORS_ORIGIN lists. */
const LISTED = ["http://a.example", "http://b.example"];
const listedApp = makeApp(loadConfig({ ...env, CORS_ORIGIN: LISTED.join(", ") }));
const ask = (path: string, headers: Record<string, string> = {}, method = "GET", on = app) => on.handle(new Request(`http://localhost${path}`, { method, headers }));

let serial = 0;
function tx(time: number, value: number): Transaction {
  const n = serial++;
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`http-cache-${n}`).digest("hex"),
    time,
    size: 200,
    weight: 800,
    inputs: [{ address: `addr-in-${n % 3}`, value: value + 500 }],
    outputs: [{ address: `addr-out-${n % 4}`, value }],
    value,
    fee: 500,
    received_at: time * 1000,
  };
}
/** Some transactions in the last hour's complete minutes (none in the current one). */
const SEEDED = Array.from({ length: 12 }, (_, i) => tx(M - (i + 1) * 5 * 60 + 7, 10_000 * (i + 1)));
await fill(redis, config, SEEDED, { at: NOW_SEC });

/** Every group level with the log through a minute from now, then `partitions` planted over it. */
async function state(partitions: PlantedPartition[] = []) {
  for (const p of PROJECTIONS) {
    await forget(redis, config, p);
    await plant(redis, config, p, level((NOW_SEC + 60) * 1000));
    await plant(redis, config, p, partitions);
  }
}
/** A state in which every answer is incomplete (behind), its figures unchanged. */
const BEHIND: PlantedPartition[] = [{ throughMs: NOW_SEC * 1000 - 10 * MIN }];

beforeEach(async () => {
  clockMs = NOW_SEC * 1000;
  await state();
});

/** Every data route of every projection, as it mounts them (Elysia's `/x/:param` form): as test/api-complete.test.ts finds them. */
const ROUTES = PROJECTIONS.flatMap((p: ApiProjection) =>
  p.api
    .routes(apiContext({ config, redis: apiRedis, now: () => clockMs, fresh: { shared: false } }, redisStore(apiRedis, config, PROJECTIONS), () => 3))
    .routes.filter((r) => r.method === "GET")
    .map((r) => r.path),
);
const STORED = SEEDED[0] as Transaction;
/** A request path for each: a stored transaction's hash, min_value 0. */
const PARAMS: Record<string, string> = { hash: STORED.hash, min_value: "0" };
const ASKED = ROUTES.map((path) =>
  path.replace(/:([^/]+)/g, (_, name: string) => {
    const value = PARAMS[name];
    if (value === undefined) throw new Error(`${path}: add a value for the path parameter ${name} to PARAMS`);
    return value;
  }),
);
const UNKNOWN = `/transactions/${"ab".repeat(32)}`;

/** The headers a 304 repeats from the 200 (RFC 9110 §15.4.5, and the flag). */
const KEPT = ["etag", "cache-control", "vary", "x-complete", "x-incomplete-reason", "access-control-allow-origin"];
const kept = (res: Response) => Object.fromEntries(KEPT.map((h) => [h, res.headers.get(h)]));

describe("every data route of every projection", () => {
  test("each is asked, and answers 200 with a strong ETag that is the hash of its body as sent", async () => {
    expect(ROUTES.length).toBeGreaterThanOrEqual(PROJECTIONS.length);
    for (const path of ASKED) {
      const res = await ask(path);
      const body = await res.text();
      expect([path, res.status]).toEqual([path, 200]);
      const etag = res.headers.get("etag");
      expect([path, etag]).toEqual([path, expect.stringMatching(/^"[A-Za-z0-9_-]{22}"$/)]); // strong: no W/
      expect([path, etag]).toEqual([path, etagOf(body)]);
      expect([path, res.headers.get("cache-control")]).toEqual([path, COMPLETE_CACHE]);
      expect([path, JSON.parse(body).complete, res.headers.get("x-complete")]).toEqual([path, true, "true"]);
    }
  });

  test("If-None-Match with the tag: 304, no body, no content type, the same caching and flag headers", async () => {
    for (const path of ASKED) {
      const first = await ask(path);
      const etag = first.headers.get("etag") as string;
      const again = await ask(path, { "if-none-match": etag });
      expect([path, again.status, await again.text()]).toEqual([path, 304, ""]);
      expect([path, again.headers.get("content-type")]).toEqual([path, null]);
      expect([path, kept(again)]).toEqual([path, kept(first)]);
    }
  });

  test("HEAD: the 200's headers without its body, and a 304 for the tag", async () => {
    for (const path of ASKED) {
      const got = await ask(path);
      const head = await ask(path, {}, "HEAD");
      expect([path, head.status, await head.text()]).toEqual([path, 200, ""]);
      expect([path, head.headers.get("content-type"), kept(head)]).toEqual([path, got.headers.get("content-type"), kept(got)]);
      const headAgain = await ask(path, { "if-none-match": got.headers.get("etag") as string }, "HEAD");
      expect([path, headAgain.status, await headAgain.text(), kept(headAgain)]).toEqual([path, 304, "", kept(got)]);
    }
  });

  test("an incomplete answer is no-cache, and a tag of the complete one gets the whole answer, not a 304", async () => {
    const complete = await Promise.all(ASKED.map(async (path) => ({ path, res: await ask(path) })));
    await state(BEHIND);
    for (const { path, res: was } of complete) {
      const res = await ask(path, { "if-none-match": was.headers.get("etag") as string });
      // A found transaction is complete whatever the coverage: its answer, and so its tag, are the same.
      if (path === `/transactions/${STORED.hash}`) {
        expect([path, res.status, kept(res)]).toEqual([path, 304, kept(was)]);
        continue;
      }
      const body = (await res.json()) as Record<string, unknown>;
      expect([path, res.status, res.headers.get("cache-control")]).toEqual([path, 200, INCOMPLETE_CACHE]);
      expect([path, body.complete, body.incomplete_reason]).toEqual([path, false, "behind"]);
      expect([path, res.headers.get("etag")]).not.toEqual([path, was.headers.get("etag")]);
      // The new tag revalidates while the answer stays incomplete: still no-cache.
      const again = await ask(path, { "if-none-match": res.headers.get("etag") as string });
      expect([path, again.status, again.headers.get("cache-control")]).toEqual([path, 304, INCOMPLETE_CACHE]);
    }
  });
});

describe("a second request with the ETag gets 304 until the answer changes, then 200", () => {
  test("a transaction stored in the last hour changes every list, and only then", async () => {
    const paths = ASKED.filter((p) => !p.startsWith("/transactions/"));
    const tags = new Map<string, string>();
    const bodies = new Map<string, string>();
    for (const path of paths) {
      const res = await ask(path);
      tags.set(path, res.headers.get("etag") as string);
      bodies.set(path, await res.text());
    }
    // Nothing written, the clock still: every render is the same answer.
    for (const path of paths) expect([path, (await ask(path, { "if-none-match": tags.get(path) as string })).status]).toEqual([path, 304]);

    const added = tx(M - 2 * 60 + 11, 5_000_000);
    await fill(redis, config, [added], { at: NOW_SEC });
    for (const path of paths) {
      const res = await ask(path, { "if-none-match": tags.get(path) as string });
      const body = await res.text();
      expect([path, res.status]).toEqual([path, 200]);
      expect([path, res.headers.get("etag")]).toEqual([path, etagOf(body)]);
      expect([path, res.headers.get("etag")]).not.toEqual([path, tags.get(path)]);
      expect([path, body]).not.toEqual([path, bodies.get(path)]);
      tags.set(path, res.headers.get("etag") as string);
    }
    // The new tags hold again until the next change.
    for (const path of paths) expect([path, (await ask(path, { "if-none-match": tags.get(path) as string })).status]).toEqual([path, 304]);
    expect(JSON.parse(await (await ask("/show_transactions/?limit=1")).text()).transactions[0].hash).toBe(added.hash);
  });

  test("a new minute moves the last hour's minutes: a new tag without a write", async () => {
    const path = "/transactions_count_per_minute/0";
    const etag = (await ask(path)).headers.get("etag") as string;
    expect((await ask(path, { "if-none-match": etag })).status).toBe(304);
    clockMs = (NOW_SEC + 60) * 1000;
    const moved = await ask(path, { "if-none-match": etag });
    expect(moved.status).toBe(200);
    expect(moved.headers.get("etag")).not.toBe(etag);
  });
});

describe("If-None-Match as RFC 9110 writes it", () => {
  const path = "/transactions_count_per_hour";
  test("`*`, a list naming the tag, and the tag marked weak (weak comparison) are 304; other tags and malformed values are 200", async () => {
    const etag = (await ask(path)).headers.get("etag") as string;
    const status = async (value: string) => (await ask(path, { "if-none-match": value })).status;
    expect(await status("*")).toBe(304);
    expect(await status(` "other" , ${etag}`)).toBe(304);
    expect(await status(`"a,b", W/${etag}`)).toBe(304);
    expect(await status(`,, ${etag} ,`)).toBe(304);
    expect(await status('"other"')).toBe(200);
    expect(await status(etag.slice(1, -1))).toBe(200); // unquoted: not an entity tag
    expect(await status(`${etag.slice(0, -2)}"`)).toBe(200);
    expect(await status(`garbage ${etag}`)).toBe(200);
  });

  test("noneMatch, on its own", () => {
    const tag = '"abc"';
    expect([null, "", "*", " * ", '"abc"', 'W/"abc"', '"x", "abc"', '"x",W/"abc"', '"abc', "abc", 'w/"abc"', '"x" "abc"', '"ab"'].map((v) => noneMatch(v, tag))).toEqual([
      false,
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  test("a 404 of /transactions/{hash} has the tag of its body and the flag's Cache-Control, and is never a 304", async () => {
    const missing = await ask(UNKNOWN);
    const body = await missing.text();
    expect(missing.status).toBe(404);
    expect(JSON.parse(body)).toMatchObject({ error: "not_found", complete: true });
    expect(missing.headers.get("etag")).toBe(etagOf(body));
    expect(missing.headers.get("cache-control")).toBe(COMPLETE_CACHE);
    for (const value of [missing.headers.get("etag") as string, "*"]) {
      const again = await ask(UNKNOWN, { "if-none-match": value });
      expect([value, again.status, await again.text()]).toEqual([value, 404, body]);
    }
    await state([{ position: null }]);
    const replaying = await ask(UNKNOWN);
    const replayingBody = await replaying.text();
    expect(JSON.parse(replayingBody)).toMatchObject({ complete: false, incomplete_reason: "replaying" });
    expect([replaying.headers.get("etag"), replaying.headers.get("cache-control")]).toEqual([etagOf(replayingBody), INCOMPLETE_CACHE]);
  });
});

describe("the text table of /transactions_count_per_minute", () => {
  const path = "/transactions_count_per_minute/0";
  const TEXT = { accept: "text/plain" };

  test("its own tag; Vary: Accept when Accept picks the format, none with ?format", async () => {
    const json = await ask(path);
    const text = await ask(path, TEXT);
    expect(text.headers.get("content-type")).toStartWith("text/plain");
    expect(json.headers.get("vary")).toBe("Accept");
    expect(text.headers.get("vary")).toBe("Accept");
    expect(text.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(text.headers.get("etag")).not.toBe(json.headers.get("etag"));
    expect(text.headers.get("cache-control")).toBe(COMPLETE_CACHE);
    // Each form revalidates with its own tag only.
    expect((await ask(path, { ...TEXT, "if-none-match": text.headers.get("etag") as string })).status).toBe(304);
    expect((await ask(path, { ...TEXT, "if-none-match": json.headers.get("etag") as string })).status).toBe(200);
    expect((await ask(path, { "if-none-match": text.headers.get("etag") as string })).status).toBe(200);
    // ?format decides alone: Accept does not change the answer, so it is not named.
    const viaQuery = await ask(`${path}?format=text`, { accept: "application/json" });
    expect([viaQuery.headers.get("content-type"), viaQuery.headers.get("vary"), viaQuery.headers.get("etag")]).toEqual([
      text.headers.get("content-type"),
      null,
      text.headers.get("etag"),
    ]);
    expect((await ask(`${path}?format=json`, TEXT)).headers.get("vary")).toBeNull();
    // The other routes do not depend on Accept.
    expect((await ask("/transactions_count_per_hour", TEXT)).headers.get("vary")).toBeNull();
  });

  test("the table does not carry the flag, its tag does: the same table incomplete gets a new tag and no-cache", async () => {
    const complete = await ask(path, TEXT);
    const table = await complete.text();
    await state(BEHIND);
    const behind = await ask(path, { ...TEXT, "if-none-match": complete.headers.get("etag") as string });
    expect(behind.status).toBe(200);
    expect(await behind.text()).toBe(table);
    expect([behind.headers.get("x-complete"), behind.headers.get("cache-control")]).toEqual(["false", INCOMPLETE_CACHE]);
    expect(behind.headers.get("etag")).not.toBe(complete.headers.get("etag"));
  });

  test("the text and its tag are made once per rendered answer", async () => {
    const rendered = new Rendered({ complete: true, minutes: [1, 2] });
    let tables = 0;
    const table = (v: { minutes: number[] }) => {
      tables++;
      return v.minutes.join("\n");
    };
    const once = async (headers: Record<string, string>) => {
      const set = { headers: {} as Record<string, unknown>, status: undefined as unknown };
      const body = await jsonOrText(set, new Request("http://localhost/", { headers }), rendered, undefined, table);
      return { body, set };
    };
    const first = await once(TEXT);
    const second = await once({ ...TEXT, "if-none-match": first.set.headers.etag as string });
    expect([first.body, second.body, second.set.status, tables]).toEqual(["1\n2", "", 304, 1]);
    // The JSON form's tag is the Rendered's own, kept with its text.
    const json = await once({});
    expect([json.body, json.set.headers.etag, rendered.etag]).toEqual([rendered.json, etagOf(rendered.json), etagOf(rendered.json)]);
    expect(tables).toBe(1);
  });
});

describe("Vary names only what changes the answer", () => {
  test("CORS_ORIGIN=*: no Vary at all (the CORS plugin's Vary: * is dropped), with or without an Origin", async () => {
    for (const path of [...ASKED, UNKNOWN, "/no/such/route", "/swagger/json"]) {
      if (path === "/transactions_count_per_minute/0") continue; // Vary: Accept, above
      for (const headers of [{}, { origin: "http://elsewhere.example" }] as Record<string, string>[]) {
        const res = await ask(path, headers);
        expect([path, headers, res.headers.get("vary")]).toEqual([path, headers, null]);
      }
    }
    const cross = await ask("/transactions_count_per_hour", { origin: "http://elsewhere.example" });
    expect(cross.headers.get("access-control-allow-origin")).toBe("*");
    expect(cross.headers.get("access-control-expose-headers")?.split(/,\s*/)).toEqual(expect.arrayContaining(["etag", "x-complete"]));
  });

  test("CORS_ORIGIN listing origins: Vary: Origin on every answer (and Accept after it where Accept picks the format), on the 304 too", async () => {
    for (const origin of [LISTED[0] as string, "http://elsewhere.example", undefined]) {
      const headers: Record<string, string> = origin ? { origin } : {};
      for (const path of ASKED) {
        const res = await ask(path, headers, "GET", listedApp);
        const expected = path === "/transactions_count_per_minute/0" ? "Origin, Accept" : "Origin";
        expect([path, origin, res.headers.get("vary")]).toEqual([path, origin, expected]);
        const again = await ask(path, { ...headers, "if-none-match": res.headers.get("etag") as string }, "GET", listedApp);
        expect([path, origin, again.status, kept(again)]).toEqual([path, origin, 304, kept(res)]);
      }
    }
    const allowed = await ask("/transactions_count_per_hour", { origin: LISTED[1] as string }, "GET", listedApp);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(LISTED[1] as string);
  });

  test("a preflight allows If-None-Match, for a page that revalidates by hand", async () => {
    const preflight = await ask(
      "/transactions_count_per_hour",
      { origin: "http://elsewhere.example", "access-control-request-method": "GET", "access-control-request-headers": "if-none-match" },
      "OPTIONS",
    );
    expect(preflight.headers.get("access-control-allow-headers")?.split(/,\s*/)).toContain("if-none-match");
  });
});
