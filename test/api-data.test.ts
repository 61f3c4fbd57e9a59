/**
 * The data endpoints on seeded data, through `app.handle` against the run-wide real Redis.
 * Redis is seeded through the consumer groups' own Lua scripts (tools/testkit/fill.ts), with the
 * scripts' clock and the app's clock pinned, so every expected value below is computed from the
 * seeded transactions without depending on when the test runs. Every group's partitions are
 * planted level with the log (test/helpers/coverage.ts), so every answer says complete; what
 * makes an answer incomplete is test/api-complete.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { createLogger } from "../src/domain/log.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { minuteOf, WINDOW_SECONDS, windowStart } from "../src/domain/window.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { fill, moveWindow } from "../tools/testkit/fill.ts";
import { level, plant } from "./helpers/coverage.ts";
import { testEnv } from "./helpers/env.ts";

const { config, kafka, redis } = testEnv();
const log = createLogger("api-data-test", config);

// The middle of the current minute: close to the real time (the scripts' key expiries are
// relative to it), and 30 s from either minute boundary.
const NOW_SEC = minuteOf(Math.floor(Date.now() / 1000)) + 30;
const M = minuteOf(NOW_SEC); // the current (incomplete) minute
let clockMs = NOW_SEC * 1000;

const apiRedis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
const app = createApp({ config, redis: apiRedis, kafka: probe, projections: PROJECTIONS, log, now: () => clockMs, fresh: { shared: false } });
const get = async (path: string, headers: Record<string, string> = {}) => app.handle(new Request(`http://localhost${path}`, { headers }));

let serial = 0;
const hashOf = (n: number) => createHash("sha256").update(`tx-${n}`).digest("hex");
/** The addresses of the last hour's transactions (of several address kinds). */
const ADDRESSES = [
  "35wEodJ1x64uUy3PkenD1gT3tnrHhQSNTG",
  "3AL3peHJm1FpFAQ1Hp9rFBmt2cbp1deXHX",
  "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
  "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
  "addr-e",
  "addr-f",
  "addr-g",
];

function tx(time: number, out: [string | null, number][], ins: [string | null, number | null][]): Transaction {
  const n = serial++;
  const value = out.reduce((s, [, v]) => s + v, 0);
  const fee = ins.every(([, v]) => v !== null) ? ins.reduce((s, [, v]) => s + (v ?? 0), 0) - value : null;
  return {
    v: SCHEMA_VERSION,
    hash: hashOf(n),
    time,
    size: 200 + n,
    weight: n % 3 ? 3 * (200 + n) : null,
    inputs: ins.map(([address, v]) => ({ address, value: v })),
    outputs: out.map(([address, v]) => ({ address, value: v })),
    value,
    fee,
    received_at: time * 1000 + 5,
  };
}

/** Deterministic but varied: count of minute i (1..60 minutes back) and its transactions. */
const countBack = (i: number) => (i * 5) % 7; // 0..6, zeros included
const seeded: Transaction[] = [];
for (let i = 1; i <= 60; i++) {
  for (let k = 0; k < countBack(i); k++) {
    const a = ADDRESSES[(i + k) % ADDRESSES.length] as string;
    const b = ADDRESSES[(i * 3 + k) % ADDRESSES.length] as string;
    seeded.push(
      tx(
        M - i * 60 + 7 * k + 1,
        [
          [a, 1_000 * i + k],
          [null, 0],
        ],
        [
          [b, 2_000 * i + 3 * k],
          [b, null],
        ],
      ),
    );
  }
}
// The current minute: stored and summed, but not a complete minute.
const current = [
  tx(M + 1, [[ADDRESSES[0] as string, 11]], [[ADDRESSES[1] as string, 20]]),
  tx(M + 2, [[ADDRESSES[2] as string, 5_000_000_000]], [[ADDRESSES[3] as string, 5_000_001_000]]),
];
// 61 minutes back: in the 3-hour window, not in the last hour's 60 minutes.
const older = [tx(M - 61 * 60 + 5, [["addr-older", 7]], [["addr-stale", 9]])];
// The first minute of the 3-hour window, and one minute before it (stale: no group applies it).
const first = windowStart(NOW_SEC);
const edge = [tx(first + 10, [["addr-edge", 900_000_000]], [["addr-edge", 900_000_100]])];
const stale = [tx(first - 60 + 10, [["addr-stale", 800_000_000_000]], [["addr-stale", 800_000_000_100]])];
const all = [...seeded, ...current, ...older, ...edge, ...stale];
const inWindow = all.filter((t) => t.time >= first);

// Each group applies the transactions younger than it keeps its figures (no seeded time is within
// a minute of such a bound): the counts group every one of the last 24 hours, the stale one
// included (its hour is still kept); the address and transaction groups leave that one out.
const seededBy = await fill(redis, config, all, { at: NOW_SEC });
const keptBy = (keepSeconds: number) => all.filter((t) => NOW_SEC - t.time < keepSeconds);
// Every partition of every group level with the log through the latest clock the tests set (a minute on).
const LEVEL = level((NOW_SEC + 60) * 1000);
for (const p of PROJECTIONS) await plant(redis, config, p, LEVEL);
/** The counts projection: what the per-minute and per-hour routes read. */
const counts = projectionOf("counts") as Projection;

/** What the API serves of a record: neither its version, its arrival nor its weight. */
const view = ({ v: _v, received_at: _r, weight: _w, ...rest }: Transaction) => rest;
const pad = (n: number) => String(n).padStart(2, "0");
const hhmm = (sec: number) => `${pad(new Date(sec * 1000).getUTCHours())}:${pad(new Date(sec * 1000).getUTCMinutes())}`;
/** Expected per-minute entries, from the seeded transactions. */
const expectedMinutes = Array.from({ length: 60 }, (_, j) => {
  const start = M - (60 - j) * 60;
  const txs = all.filter((t) => t.time >= start && t.time < start + 60);
  return { minute: hhmm(start), start: new Date(start * 1000).toISOString(), count: txs.length, value: txs.reduce((s, t) => s + t.value, 0), complete: true };
});
/** Expected top addresses: totals per side, highest first, ties as Redis orders them (address descending). */
function expectedTop(side: "received" | "sent", txs: Transaction[], limit: number) {
  const totals = new Map<string, number>();
  for (const t of txs) for (const e of side === "received" ? t.outputs : t.inputs) if (e.address && e.value) totals.set(e.address, (totals.get(e.address) ?? 0) + e.value);
  return [...totals]
    .map(([address, total_value]) => ({ address, total_value }))
    .sort((a, b) => b.total_value - a.total_value || (a.address < b.address ? 1 : -1))
    .slice(0, limit);
}

test("the seed: each group applied once every transaction it keeps (and does not refuse), and counted the older ones stale", () => {
  // What a projection refuses is dead-lettered by its consumers, and left out by fill.
  const accepted = (p: Projection) => all.filter((t) => (p.apply.refuse?.(t) ?? null) === null);
  expect(seededBy).toEqual(
    Object.fromEntries(
      PROJECTIONS.map((p) => {
        const taken = accepted(p);
        const kept = taken.filter((t) => keptBy(p.keepSeconds).includes(t));
        return [p.role, { applied: kept.length, duplicates: 0, stale: taken.length - kept.length }];
      }),
    ),
  );
  // The counts group keeps every seeded transaction, the stale one too; the window's groups do not.
  expect(accepted(counts)).toEqual(all);
  expect(keptBy(counts.keepSeconds)).toEqual(all);
  expect(keptBy(WINDOW_SECONDS)).toEqual(inWindow);
});

describe("GET /show_transactions/", () => {
  // Equal times in reverse hash order: changed by design, the index is a sorted set read
  // backwards (ZREVRANGEBYSCORE). (No two seeded transactions share a second.)
  const newestFirst = [...inWindow].sort((a, b) => b.time - a.time || (a.hash < b.hash ? 1 : -1)).map(view);

  test("the latest 100 by time, newest first, exactly the contract's fields", async () => {
    const res = await get("/show_transactions/");
    expect(res.status).toBe(200);
    expect(inWindow.length).toBeGreaterThan(100);
    expect(res.headers.get("x-complete")).toBe("true");
    const body = await res.json();
    expect(Object.keys(body)).toEqual(["complete", "transactions"]);
    expect(body.complete).toBe(true);
    expect(body.transactions).toEqual(newestFirst.slice(0, 100));
    expect(Object.keys(body.transactions[0])).toEqual(["hash", "time", "size", "inputs", "outputs", "value", "fee"]);
    expect(body.transactions[1]).toEqual(view(current[0] as Transaction)); // value 11, fee 9
    expect(body.transactions[0].value).toBe(5_000_000_000); // above 2^31
  });

  test("with and without the trailing slash", async () => {
    const a = await (await get("/show_transactions/?limit=3")).json();
    const b = await (await get("/show_transactions?limit=3")).json();
    expect(b).toEqual(a);
    expect(a.transactions).toHaveLength(3);
  });

  test("limit 1 and 1000 (more than stored: everything in the window)", async () => {
    expect((await (await get("/show_transactions?limit=1")).json()).transactions).toEqual(newestFirst.slice(0, 1));
    const every = (await (await get("/show_transactions?limit=1000")).json()).transactions;
    expect(every).toHaveLength(inWindow.length);
    expect(every).toEqual(newestFirst);
    expect(every.some((t: { hash: string }) => t.hash === stale[0]?.hash)).toBe(false);
  });

  test("a minute later, the transactions of the minute that left the window are no longer listed", async () => {
    clockMs = (NOW_SEC + 60) * 1000;
    try {
      const every = (await (await get("/show_transactions?limit=1000")).json()).transactions;
      expect(every).toEqual(newestFirst.filter((t) => t.time >= first + 60));
      expect(every.some((t: { hash: string }) => t.hash === edge[0]?.hash)).toBe(false);
    } finally {
      clockMs = NOW_SEC * 1000;
    }
  });

  test("fee is null when an input value is unknown", async () => {
    const every = (await (await get("/show_transactions?limit=1000")).json()).transactions as { fee: number | null; inputs: { value: number | null }[] }[];
    const unknown = every.filter((t) => t.inputs.some((i) => i.value === null));
    expect(unknown.length).toBeGreaterThan(0);
    for (const t of unknown) expect(t.fee).toBeNull();
  });
});

describe("GET /transactions/{hash}", () => {
  test("a stored transaction, in either case", async () => {
    const t = seeded[10] as Transaction;
    const res = await get(`/transactions/${t.hash}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-complete")).toBe("true");
    expect(await res.json()).toEqual({ ...view(t), complete: true });
    expect(await (await get(`/transactions/${t.hash.toUpperCase()}`)).json()).toEqual({ ...view(t), complete: true });
  });

  test("404 with a message when unknown (or no longer stored)", async () => {
    for (const hash of [hashOf(999_999), stale[0]?.hash as string]) {
      const res = await get(`/transactions/${hash}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("x-complete")).toBe("true"); // the projection holds the whole window: it is not there
      expect(await res.json()).toEqual({ error: "not_found", message: `no stored transaction ${hash}; transactions are kept for 3 hours of event time`, complete: true });
    }
  });
});

describe("GET /transactions_count_per_minute/{min_value}", () => {
  test("min_value 0: the 60 complete minutes before the current one, oldest first, empty minutes as 0", async () => {
    const res = await get("/transactions_count_per_minute/0");
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({ complete: true, minutes: expectedMinutes });
    expect(body.minutes[59].start).toBe(new Date((M - 60) * 1000).toISOString()); // the minute just before the current one
    expect(body.minutes.filter((m: { count: number }) => m.count === 0).length).toBeGreaterThan(0);
  });

  test("min_value filters by count", async () => {
    for (const min of [1, 5, 6]) {
      const body = await (await get(`/transactions_count_per_minute/${min}`)).json();
      expect(body.minutes).toEqual(expectedMinutes.filter((m) => m.count >= min));
      expect(body.minutes.length).toBeGreaterThan(0);
    }
    for (const min of ["60", "1000000", "999999999999999"]) expect(await (await get(`/transactions_count_per_minute/${min}`)).json()).toEqual({ complete: true, minutes: [] });
    expect((await (await get("/transactions_count_per_minute/007")).json()).minutes).toEqual(expectedMinutes.filter((m) => m.count >= 7));
  });

  test("the text table: a header line, then HH:MM<TAB>count one line a minute", async () => {
    const table = `minute\tcount\n${expectedMinutes
      .filter((m) => m.count >= 3)
      .map((m) => `${m.minute}\t${m.count}\n`)
      .join("")}`;
    const viaQuery = await get("/transactions_count_per_minute/3?format=text");
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await viaQuery.text()).toBe(table);
    expect(viaQuery.headers.get("x-complete")).toBe("true");
    const viaAccept = await get("/transactions_count_per_minute/3", { accept: "text/plain" });
    expect(await viaAccept.text()).toBe(table);
    expect(await (await get("/transactions_count_per_minute/1000000?format=text")).text()).toBe("minute\tcount\n");
    // JSON wins when asked for explicitly, or preferred by Accept.
    expect((await get("/transactions_count_per_minute/3?format=json", { accept: "text/plain" })).headers.get("content-type")).toStartWith("application/json");
    expect((await get("/transactions_count_per_minute/3", { accept: "application/json, text/plain" })).headers.get("content-type")).toStartWith("application/json");
  });

  test("a minute later the window has moved by one minute", async () => {
    clockMs = (NOW_SEC + 60) * 1000;
    try {
      const body = await (await get("/transactions_count_per_minute/0")).json();
      expect(body.minutes).toHaveLength(60);
      expect(body.minutes.slice(0, 59)).toEqual(expectedMinutes.slice(1));
      expect(body.minutes[59]).toMatchObject({ minute: hhmm(M), count: 2, value: 5_000_000_011, complete: true }); // the (then complete) current minute
    } finally {
      clockMs = NOW_SEC * 1000;
    }
  });
});

describe("GET /transactions_count_per_hour", () => {
  const hour0 = NOW_SEC - (NOW_SEC % 3600) - 23 * 3600;
  /** Checks the 24 hours: counts and values by event hour; `covered(i)` says which hours the counts projection covers. */
  async function expectHours(covered: (i: number) => boolean) {
    const body = await (await get("/transactions_count_per_hour")).json();
    expect(body.hours).toHaveLength(24);
    const hours = Array.from({ length: 24 }, (_, i) => {
      const start = hour0 + i * 3600;
      // Every transaction of the hour counts, the one before the 3-hour window too.
      const txs = all.filter((t) => t.time >= start && t.time < start + 3600);
      return {
        hour: `${hhmm(start).slice(0, 2)}:00`,
        start: new Date(start * 1000).toISOString(),
        count: txs.length,
        value: txs.reduce((s, t) => s + t.value, 0),
        open: i === 23,
        ...(covered(i) ? { complete: true } : { complete: false, incomplete_reason: "log_gap" }),
      };
    });
    const whole = hours.every((h) => h.complete) ? { complete: true } : { complete: false, incomplete_reason: "log_gap" };
    expect(body).toEqual({ ...whole, hours });
    expect(body.hours.reduce((s: number, h: { count: number }) => s + h.count, 0)).toBe(all.length);
  }

  test("the 24 hours ending with the current one (open), count and value by event hour; every hour complete while the projection holds every partition since the log began", async () => {
    await expectHours(() => true);
  });

  test("complete from the hour since which the counts projection holds every partition's records; a log_gap before", async () => {
    try {
      // Partition 1 only from the middle of hour 10 (its log began there): hours before 11 may miss
      // some of its transactions (hour 11's are stamped from 5 minutes before it, FUTURE_SLACK_MS).
      await plant(redis, config, counts, [{}, { coversFromMs: (hour0 + 10 * 3600 + 1800) * 1000 }]);
      await expectHours((i) => i >= 11);
    } finally {
      await plant(redis, config, counts, LEVEL);
    }
  });
});

describe("GET /high_value_addr", () => {
  test("default: received, top 10, over the 3-hour window", async () => {
    const body = await (await get("/high_value_addr")).json();
    expect(body).toEqual({ window_seconds: 10800, side: "received", complete: true, addresses: expectedTop("received", inWindow, 10) });
    expect(body.addresses[0]).toEqual({ address: ADDRESSES[2], total_value: expect.any(Number) });
    expect(body.addresses.some((a: { address: string }) => a.address === "addr-edge")).toBe(true); // the window's first minute counts
  });

  test("side=sent and limits", async () => {
    expect(await (await get("/high_value_addr?side=sent&limit=3")).json()).toEqual({
      window_seconds: 10800,
      side: "sent",
      complete: true,
      addresses: expectedTop("sent", inWindow, 3),
    });
    expect((await (await get("/high_value_addr?limit=1")).json()).addresses).toEqual(expectedTop("received", inWindow, 1));
    expect((await (await get("/high_value_addr?side=received&limit=1000")).json()).addresses).toEqual(expectedTop("received", inWindow, 1000));
    // The stale transaction (before the window) never counted: its 8,000 BTC are not there.
    const sent = (await (await get("/high_value_addr?side=sent&limit=1000")).json()).addresses as { address: string; total_value: number }[];
    expect(sent.find((a) => a.address === "addr-stale")?.total_value).toBe(9);
  });

  test("exactly the last 3 hours: a minute later, once the addresses group moved the window, its first minute has left", async () => {
    clockMs = (NOW_SEC + 60) * 1000;
    try {
      // Changed by design: reads no longer move the window, only the addresses group does (its
      // timer, or an apply). Before it moves, the API answers the totals as they are.
      expect((await (await get("/high_value_addr?limit=1000")).json()).addresses).toEqual(expectedTop("received", inWindow, 1000));
      expect(await moveWindow(redis, config, NOW_SEC + 60)).toBeGreaterThan(0);
      const moved = inWindow.filter((t) => t.time >= first + 60);
      const body = await (await get("/high_value_addr?limit=1000")).json();
      expect(body.addresses).toEqual(expectedTop("received", moved, 1000));
      expect(body.addresses.some((a: { address: string }) => a.address === "addr-edge")).toBe(false);
      expect((await (await get("/high_value_addr?side=sent&limit=1000")).json()).addresses).toEqual(expectedTop("sent", moved, 1000));
    } finally {
      clockMs = NOW_SEC * 1000;
    }
  });
});
