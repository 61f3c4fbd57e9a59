/**
 * Each Lua script alone, through its typed wrapper (src/redis/scripts.ts), on the real Redis, with
 * "now" pinned by `at`: dedupe by hash, stale records, the position check, the address window
 * (exact subtraction, bounded by a budget), trimming by window and cap, dropping a projection,
 * starting a replay, error codes, and that every key and value written is text.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import Redis from "ioredis";
import type { ConsumerProjection } from "../src/consumers/group.ts";
import type { Config } from "../src/domain/config.ts";
import { seenKeepSeconds } from "../src/domain/projection.ts";
import { WHOLE } from "../src/domain/shards.ts";
import { checkTransaction, MAX_SATOSHI, SCHEMA_VERSION, type Transaction, toView, viewJson } from "../src/domain/transaction.ts";
import { hourOf, MAX_AHEAD_SECONDS, minuteOf, SEEN_MARGIN_SECONDS, WINDOW_SECONDS, windowStart } from "../src/domain/window.ts";
import { addressRecord, applyAddresses } from "../src/projections/addresses/apply.ts";
import { addresses } from "../src/projections/addresses/index.ts";
import { addressKeys, addrMinuteKey, addrTotalKey, addrWindowKey } from "../src/projections/addresses/keys.ts";
import { topAddresses } from "../src/projections/addresses/read.ts";
import { advanceAddressWindow } from "../src/projections/addresses/upkeep.ts";
import { applyCounts } from "../src/projections/counts/apply.ts";
import { dropCounts } from "../src/projections/counts/drop.ts";
import { counts } from "../src/projections/counts/index.ts";
import { countsHourKey, countsMinuteKey } from "../src/projections/counts/keys.ts";
import { HOUR_BUCKET_KEEP_SECONDS, MINUTE_BUCKET_KEEP_SECONDS } from "../src/projections/counts/spec.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { applyTransactions } from "../src/projections/transactions/apply.ts";
import { transactions } from "../src/projections/transactions/index.ts";
import { txBodyKey, txByTimeKey, txStreamKey } from "../src/projections/transactions/keys.ts";
import { lastTransactionSeq, latestTransactions, storedTransactionCount, transactionByHash, transactionsAfter } from "../src/projections/transactions/read.ts";
import { trimTransactions } from "../src/projections/transactions/upkeep.ts";
import { groupKeyPattern, groupPrefix, keyPrefix, metricsKey, positionField, positionKey, replayKey, seenKey, versionKey } from "../src/redis/keys.ts";
import { type Applied, type ApplyResult, NO_POSITION, run, runAll, type ScriptCall, ScriptError, type ScriptName, type Stretch, startReplay } from "../src/redis/scripts.ts";
import { fill, moveWindow } from "../tools/testkit/fill.ts";
import { adminLogin, testEnv } from "./helpers/env.ts";

// Bun 1.3 applies the preload's default timeout to the first test file only.
setDefaultTimeout(60_000);

const { redis, config } = testEnv();

/** A minute boundary well in the past, so nothing here depends on the clock. */
const M0 = 1_700_000_040 - (1_700_000_040 % 60);
const H0 = hourOf(M0);
let serial = 0;
const hex = (n: number) => createHash("sha256").update(`lua-${n}`).digest("hex");

function tx(time: number, outputs: [string | null, number][], inputs: [string | null, number | null][] = [], hash = hex(++serial)): Transaction {
  const value = outputs.reduce((s, [, v]) => s + v, 0);
  const spent = inputs.every(([, v]) => v !== null) ? inputs.reduce((s, [, v]) => s + (v ?? 0), 0) : null;
  return {
    v: SCHEMA_VERSION,
    hash,
    time,
    size: 250,
    weight: 1_000,
    inputs: inputs.map(([address, value]) => ({ address, value })),
    outputs: outputs.map(([address, value]) => ({ address, value })),
    value,
    fee: spent === null || !inputs.length ? null : spent - value,
    received_at: time * 1000,
  };
}
/** The same transaction (same hash) stamped at another time. */
const restamped = (t: Transaction, time: number): Transaction => ({ ...t, time, received_at: time * 1000 });

/** A config with its own key namespace, so each test starts empty (all deleted after the file). */
let ns = 0;
const namespaces: Config[] = [];
const fresh = (extra: Partial<Config> = {}): Config => {
  const c = { ...config, REDIS_PREFIX: `${config.REDIS_PREFIX}-${++ns}`, ...extra };
  namespaces.push(c);
  return c;
};
// Its own client: testEnv's afterAll (registered first, so run first) closes `redis`.
afterAll(async () => {
  const cleaner = new Redis(config.REDIS_URL, adminLogin());
  try {
    for (const c of namespaces) for (const key of await keysOf(`${keyPrefix(c)}*`, cleaner)) await cleaner.unlink(key);
  } finally {
    cleaner.disconnect();
  }
});

// ---- the scripts, per group --------------------------------------------------------------------

const countsCall = (c: Config, txs: Transaction[], at?: number, stretch: Stretch = NO_POSITION) =>
  applyCounts(
    c,
    stretch,
    txs.map((t) => ({ hash: t.hash, time: t.time, value: t.value })),
    at,
  );
const addressesCall = (c: Config, txs: Transaction[], at?: number, stretch: Stretch = NO_POSITION) => applyAddresses(c, stretch, txs.map(addressRecord), at);
const transactionsCall = (c: Config, txs: Transaction[], at?: number, stretch: Stretch = NO_POSITION) => applyTransactions(c, stretch, txs, at);
/**
 * Any projection's apply call for `txs`, in one call, built by its own record mapping (what its
 * consumers send for a stretch). The tests that use it are written for every projection of the
 * registry: their transactions are ones no projection refuses (inputs worth at least the outputs).
 */
function applyCall(p: ConsumerProjection, c: Config, txs: Transaction[], at?: number, stretch: Stretch = NO_POSITION): ScriptCall<Applied<ApplyResult>> {
  for (const t of txs) expect({ role: p.role, hash: t.hash, refused: p.apply.refuse?.(t) ?? null }).toEqual({ role: p.role, hash: t.hash, refused: null });
  return p.apply.call(
    c,
    stretch,
    txs.map((t) => p.apply.record(t, WHOLE)),
    WHOLE,
    at,
  );
}
/** A call with its ARGV[n] (1-based, as in the script's header) replaced. */
const withArg = <T>(call: ScriptCall<T>, n: number, value: string | number): ScriptCall<T> => ({ ...call, args: call.args.map((a, i) => (i === n - 1 ? value : a)) });

// ---- reading Redis back ------------------------------------------------------------------------

async function keysOf(pattern: string, client: Redis = redis): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await client.scanBuffer(cursor, "MATCH", pattern, "COUNT", 1000);
    out.push(...keys);
    cursor = next.toString();
  } while (cursor !== "0");
  return out;
}

/** Every key matching `pattern`, with its type and its contents as raw bytes (strings, hash fields and values, sorted-set members and scores). */
async function rawDump(pattern: string): Promise<{ key: Buffer; type: string; parts: Buffer[] }[]> {
  const out: { key: Buffer; type: string; parts: Buffer[] }[] = [];
  for (const key of await keysOf(pattern)) {
    const type = await redis.type(key);
    let parts: Buffer[];
    if (type === "string") parts = [(await redis.callBuffer("GET", key)) as Buffer];
    else if (type === "hash") parts = (await redis.callBuffer("HGETALL", key)) as Buffer[];
    else if (type === "zset") parts = (await redis.callBuffer("ZRANGE", key, 0, -1, "WITHSCORES")) as Buffer[];
    else if (type === "stream") parts = ((await redis.callBuffer("XRANGE", key, "-", "+")) as [Buffer, Buffer[]][]).flatMap(([id, fields]) => [id, ...fields]);
    else throw new Error(`${key.toString()}: unexpected type ${type}`);
    out.push({ key, type, parts });
  }
  return out;
}

/** The keys matching `pattern` and their contents, as text (for comparing states). */
async function snapshot(pattern: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const { key, type, parts } of await rawDump(pattern)) out[key.toString()] = [type, ...parts.map((p) => p.toString())];
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
const namespace = (c: Config) => snapshot(`${keyPrefix(c)}*`);
/** Whether `key` is a projection's version (src/redis/keys.ts versionKey). */
const isVersion = (key: string) => key.endsWith(":version");
/**
 * The namespace without the projections' versions: what a call wrote of the figures and the
 * progress. Every applied call sets its projection's version, whatever it applied
 * (test/versions.test.ts shows when it moves and when not).
 */
const figures = async (c: Config) => Object.fromEntries(Object.entries(await namespace(c)).filter(([key]) => !isVersion(key)));

const scores = async (key: string) => {
  const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
  const out: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = Number(flat[i + 1]);
  return out;
};

/** Redis's clock, ms. */
const redisMs = async () => {
  const [sec, usec] = await redis.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
};
/**
 * Runs `call` and checks that it gave `key` a time to live of exactly `ttl` seconds: its expiry
 * (PEXPIRETIME, absolute) lies between Redis's clock before the call plus `ttl` and after it plus
 * `ttl`. No tolerance, and nothing depends on how long the call takes.
 */
async function expectTtls<T>(call: ScriptCall<T>, ttls: Record<string, number>): Promise<T> {
  const before = await redisMs();
  const result = await run(redis, call);
  const after = await redisMs();
  for (const [key, ttl] of Object.entries(ttls)) {
    const at = Number(await redis.call("PEXPIRETIME", key));
    expect(at).toBeGreaterThanOrEqual(before + ttl * 1000);
    expect(at).toBeLessThanOrEqual(after + ttl * 1000);
  }
  return result;
}

async function expectScriptError(work: Promise<unknown>, script: ScriptName, code: number) {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ScriptError);
  expect((err as ScriptError).script).toBe(script);
  expect((err as ScriptError).code).toBe(code);
  expect((err as ScriptError).message).toBe(new ScriptError(script, code).message);
}

// ================================================================================================

describe("applyCounts-5", () => {
  test("counts and sums each transaction once in its minute and hour, with TTLs from the bucket's own time", async () => {
    const c = fresh();
    const now = M0 + 600;
    const a = tx(M0 + 5, [["A", 100]]);
    const b = tx(M0 + 59, [
      ["B", 50],
      ["C", 7],
    ]);
    const d = tx(M0 + 60, [["A", 1]]);
    // a twice in one call: the second is a duplicate.
    const first = await expectTtls(countsCall(c, [a, b, d, a], now), {
      [countsMinuteKey(c, M0)]: M0 + MINUTE_BUCKET_KEEP_SECONDS - now,
      [countsMinuteKey(c, M0 + 60)]: M0 + 60 + MINUTE_BUCKET_KEEP_SECONDS - now,
      [countsHourKey(c, H0)]: H0 + HOUR_BUCKET_KEEP_SECONDS - now,
    });
    expect(first).toEqual({ status: "applied", applied: 3, duplicates: 1, stale: 0 });
    expect(await run(redis, countsCall(c, [b, d], now))).toEqual({ status: "applied", applied: 0, duplicates: 2, stale: 0 });
    expect(await redis.hgetall(countsMinuteKey(c, M0))).toEqual({ count: "2", value: "157" });
    expect(await redis.hgetall(countsMinuteKey(c, M0 + 60))).toEqual({ count: "1", value: "1" });
    expect(await redis.hgetall(countsHourKey(c, H0))).toEqual({ count: "3", value: "158" });
    // The group remembers each hash with its arrival (Redis time), whatever time it carries.
    expect(await scores(seenKey(c, counts))).toEqual({ [a.hash]: now, [b.hash]: now, [d.hash]: now });
  });

  test("a second delivery of a hash stamped in another minute (and hour) counts nothing", async () => {
    const c = fresh();
    const now = M0 + 3 * 3600;
    const a = tx(M0 + 5, [["A", 100]]);
    await run(redis, countsCall(c, [a], now));
    const before = await figures(c);
    const later = restamped(a, M0 + 2 * 3600 + 125);
    expect(await run(redis, countsCall(c, [later], now))).toEqual({ status: "applied", applied: 0, duplicates: 1, stale: 0 });
    expect(await redis.exists(countsMinuteKey(c, M0 + 2 * 3600 + 120), countsHourKey(c, hourOf(later.time)))).toBe(0);
    expect(await figures(c)).toEqual(before);
  });

  test("a transaction whose hour bucket has expired is stale; one whose minute bucket has expired counts in its hour only", async () => {
    const c = fresh();
    const now = H0 + HOUR_BUCKET_KEEP_SECONDS; // hour H0 has just expired
    const expired = tx(H0 + 3599, [["A", 100]]);
    const hourOnly = tx(H0 + 3600 + 30, [["A", 10]]); // its minute's bucket expired long ago
    const recent = tx(now - 10, [["A", 1]]);
    expect(await run(redis, countsCall(c, [expired, hourOnly, recent], now))).toEqual({ status: "applied", applied: 2, duplicates: 0, stale: 1 });
    expect(await redis.exists(countsHourKey(c, H0), countsMinuteKey(c, H0 + 3540))).toBe(0);
    expect(await redis.exists(countsMinuteKey(c, H0 + 3600))).toBe(0);
    expect(await redis.hgetall(countsHourKey(c, H0 + 3600))).toEqual({ count: "1", value: "10" });
    expect(await redis.hgetall(countsMinuteKey(c, now - 60))).toEqual({ count: "1", value: "1" });
    expect(await redis.hgetall(countsHourKey(c, hourOf(now - 10)))).toEqual({ count: "1", value: "1" });
    // The stale one is not remembered: it changes nothing, however often it comes.
    expect(Object.keys(await scores(seenKey(c, counts))).sort()).toEqual([hourOnly.hash, recent.hash].sort());
  });

  test("values near 21 million BTC add up exactly", async () => {
    const c = fresh();
    const big = 2_100_000_000_000_000;
    const txs = Array.from({ length: 6 }, (_, i) => tx(M0 + i, [["A", big]]));
    await run(redis, countsCall(c, txs, M0 + 10));
    expect(await redis.hget(countsMinuteKey(c, M0), "value")).toBe(String(6n * BigInt(big)));
    expect(await redis.hget(countsHourKey(c, H0), "value")).toBe(String(6n * BigInt(big)));
  });

  test("malformed arguments come back as a coded error, and nothing is written", async () => {
    const c = fresh();
    const call = countsCall(c, [tx(M0, [["A", 5]])], M0 + 10);
    await expectScriptError(run(redis, { ...call, args: call.args.slice(0, -1) }), "applyCounts", -1);
    await expectScriptError(run(redis, withArg(call, 1, "soon")), "applyCounts", -2); // now: a number, or "" for Redis's clock
    await expectScriptError(run(redis, withArg(call, 5, "soon")), "applyCounts", -2); // minute bucket life
    await expectScriptError(run(redis, withArg(call, 6, "")), "applyCounts", -2); // hour bucket life
    await expectScriptError(run(redis, withArg(call, 7, "x")), "applyCounts", -2); // how long hashes are remembered
    await expectScriptError(run(redis, withArg(call, call.args.length, "-5")), "applyCounts", -3); // value
    await expectScriptError(run(redis, withArg(call, call.args.length, "1.5")), "applyCounts", -3);
    await expectScriptError(run(redis, withArg(call, call.args.length - 1, "yesterday")), "applyCounts", -3); // time
    // runAll rejects with the error too, once every reply is in.
    await expectScriptError(runAll(redis, [countsCall(c, [], M0), { ...call, args: call.args.slice(0, -1) }]), "applyCounts", -1);
    // Only the version, set by the pipeline's first call (applied, with nothing in it).
    expect(Object.keys(await namespace(c))).toEqual([versionKey(c, counts)]);
  });
});

describe("applyAddresses-9 / advanceAddressWindow-7", () => {
  test("adds received and sent per address and per minute, once; zero values, unknown values and null addresses count nothing", async () => {
    const c = fresh();
    const now = M0 + 120;
    const t1 = tx(
      M0 + 1,
      [
        ["A", 100],
        ["B", 5],
        [null, 0],
        ["A", 1],
      ],
      [
        ["X", 300],
        ["Y", null],
      ],
    );
    const t2 = tx(
      M0 + 61,
      [
        ["B", 10],
        ["Z", 0],
      ],
      [["X", 20]],
    );
    expect(await run(redis, addressesCall(c, [t1, t2, t1], now))).toEqual({ status: "applied", applied: 2, duplicates: 1, stale: 0, windowStart: windowStart(now) });
    expect(await run(redis, addressesCall(c, [t2], now))).toMatchObject({ status: "applied", applied: 0, duplicates: 1, stale: 0 });
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: 101, B: 15 });
    expect(await scores(addrTotalKey(c, "sent"))).toEqual({ X: 320 });
    expect(await scores(addrMinuteKey(c, "received", M0))).toEqual({ A: 101, B: 5 });
    expect(await scores(addrMinuteKey(c, "received", M0 + 60))).toEqual({ B: 10 });
    expect(await scores(addrMinuteKey(c, "sent", M0))).toEqual({ X: 300 });
    expect(await scores(addrMinuteKey(c, "sent", M0 + 60))).toEqual({ X: 20 });
    expect(await redis.zrange(addressKeys(c).minutes, 0, -1)).toEqual([String(M0), String(M0 + 60)]);
    expect(await redis.get(addrWindowKey(c))).toBe(String(windowStart(now)));
    expect(await topAddresses(redis, c, "received", 1)).toEqual([{ address: "A", total_value: 101 }]);
    expect(await scores(seenKey(c, addresses))).toEqual({ [t1.hash]: now, [t2.hash]: now });
  });

  test("a second delivery of a hash stamped in another minute adds nothing, to no minute", async () => {
    const c = fresh();
    const a = tx(M0 + 5, [["A", 100]], [["S", 150]]);
    // Both calls at the same "now", so the window start stays put.
    await run(redis, addressesCall(c, [a], M0 + 130));
    const before = await figures(c);
    expect(await run(redis, addressesCall(c, [restamped(a, M0 + 125)], M0 + 130))).toMatchObject({ status: "applied", applied: 0, duplicates: 1, stale: 0 });
    expect(await redis.exists(addrMinuteKey(c, "received", M0 + 120), addrMinuteKey(c, "sent", M0 + 120))).toBe(0);
    expect(await figures(c)).toEqual(before);
  });

  test("duplicates inside one call count once: the hash seen before, and a hash twice in the call", async () => {
    const c = fresh();
    const t1 = tx(
      M0,
      [
        ["A", 10],
        ["B", 1],
      ],
      [["S", 11]],
    );
    const t2 = tx(M0 + 1, [["A", 5]], [["S", 6]]);
    await run(redis, addressesCall(c, [t1], M0 + 2));
    // One call with t1 again (a duplicate), t2 and t2 again: only t2 counts, once.
    expect(await run(redis, addressesCall(c, [t1, t2, t2], M0 + 2))).toMatchObject({ status: "applied", applied: 1, duplicates: 2, stale: 0 });
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: 15, B: 1 });
    expect(await scores(addrTotalKey(c, "sent"))).toEqual({ S: 17 });
    expect(await scores(addrMinuteKey(c, "received", M0))).toEqual({ A: 15, B: 1 });
  });

  test("a minute leaves the window exactly 180 minutes after it started, subtracted exactly; totals reaching 0 go", async () => {
    const c = fresh();
    const big = 2_100_000_000_000_000; // sums stay exact below 2^53
    await run(
      redis,
      addressesCall(
        c,
        [
          tx(M0 + 30, [["A", big]], [["S", 9]]),
          tx(
            M0 + 60,
            [
              ["A", 5],
              ["B", 1],
            ],
            [["T", 3]],
          ),
        ],
        M0 + 61,
      ),
    );
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: big + 5, B: 1 });
    // At M0 + 179:59 the window is M0 .. M0+179: nothing leaves.
    expect(await moveWindow(redis, c, M0 + 179 * 60 + 59)).toBe(0);
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: big + 5, B: 1 });
    expect(await redis.get(addrWindowKey(c))).toBe(String(M0));
    // At M0 + 180:00 minute M0 is out (one entry per side): A keeps exactly what minute M0+1 gave
    // it; S reaches 0 and goes; minute M0's sets and its index entry go.
    expect(await run(redis, advanceAddressWindow(c, M0 + 180 * 60))).toEqual({ windowStart: M0 + 60, subtracted: 2, waiting: false });
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: 5, B: 1 });
    expect(await scores(addrTotalKey(c, "sent"))).toEqual({ T: 3 });
    expect(await redis.exists(addrMinuteKey(c, "received", M0), addrMinuteKey(c, "sent", M0))).toBe(0);
    expect(await redis.zrange(addressKeys(c).minutes, 0, -1)).toEqual([String(M0 + 60)]);
    // Idempotent, and the window never moves back (another process with a slower clock).
    expect(await moveWindow(redis, c, M0 + 180 * 60)).toBe(0);
    expect(await run(redis, advanceAddressWindow(c, M0 + 100))).toEqual({ windowStart: M0 + 60, subtracted: 0, waiting: false });
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: 5, B: 1 });
    // A transaction of a minute already out of the window does not enter it (the stored window
    // start counts, not the caller's slower clock).
    expect(await run(redis, addressesCall(c, [tx(M0 + 59, [["C", 7]])], M0 + 100))).toEqual({ status: "applied", applied: 0, duplicates: 0, stale: 1, windowStart: M0 + 60 });
    // The last minute leaves: everything is gone but the window start.
    expect(await moveWindow(redis, c, M0 + 181 * 60)).toBe(3);
    expect(await redis.exists(addrTotalKey(c, "received"), addrTotalKey(c, "sent"), addressKeys(c).minutes)).toBe(0);
    expect(await keysOf(`${addressKeys(c).minutePrefix("received")}*`)).toEqual([]);
    expect(await keysOf(`${addressKeys(c).minutePrefix("sent")}*`)).toEqual([]);
    expect(await redis.get(addrWindowKey(c))).toBe(String(M0 + 120));
  });

  test("subtraction is bounded by the budget; applying moves the window first", async () => {
    const c = fresh();
    const txs = Array.from({ length: 12 }, (_, i) => tx(M0 + 60 * i, [["A", 1]]));
    await run(redis, addressesCall(c, txs, M0 + 12 * 60));
    expect((await scores(addrTotalKey(c, "received"))).A).toBe(12);
    // Twelve minutes expire at once; a call with a budget of 5 entries takes 5 and says more wait.
    const now = M0 + 12 * 60 + WINDOW_SECONDS;
    expect(await run(redis, advanceAddressWindow(c, now, 5))).toEqual({ windowStart: windowStart(now), subtracted: 5, waiting: true });
    expect((await scores(addrTotalKey(c, "received"))).A).toBe(7);
    expect(await redis.zcard(addressKeys(c).minutes)).toBeGreaterThanOrEqual(7);
    // An apply call on the way subtracts up to its budget (ARGV[7], here 5) before adding.
    const fresher = tx(now, [["A", 1000]]);
    expect(await run(redis, withArg(addressesCall(c, [fresher], now), 7, 5))).toMatchObject({ status: "applied", applied: 1, windowStart: windowStart(now) });
    expect((await scores(addrTotalKey(c, "received"))).A).toBe(2 + 1000);
    // The rest, a bounded call at a time.
    expect(await run(redis, advanceAddressWindow(c, now, 5))).toEqual({ windowStart: windowStart(now), subtracted: 2, waiting: false });
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ A: 1000 });
    expect(await redis.zrange(addressKeys(c).minutes, 0, -1)).toEqual([String(minuteOf(now))]);
  });

  test("one large minute is subtracted a budget at a time, exactly", async () => {
    const c = fresh();
    const outputs: [string, number][] = Array.from({ length: 23 }, (_, i) => [`addr-${String(i).padStart(2, "0")}`, 1000 + i]);
    await run(redis, addressesCall(c, [tx(M0, outputs), tx(M0 + 60, [["addr-00", 7]])], M0 + 61));
    const now = M0 + WINDOW_SECONDS; // minute M0 is out, minute M0+1 stays
    const first = await run(redis, advanceAddressWindow(c, now, 10));
    expect(first).toEqual({ windowStart: M0 + 60, subtracted: 10, waiting: true });
    // The 10 smallest went: addr-01..09 reached 0 and left; addr-00 keeps the 7 of minute M0+1.
    expect(await redis.zcard(addrTotalKey(c, "received"))).toBe(13 + 1);
    expect(await redis.zscore(addrTotalKey(c, "received"), "addr-00")).toBe("7");
    expect(await run(redis, advanceAddressWindow(c, now, 10))).toEqual({ windowStart: M0 + 60, subtracted: 10, waiting: true });
    expect(await run(redis, advanceAddressWindow(c, now, 10))).toEqual({ windowStart: M0 + 60, subtracted: 3, waiting: false });
    expect(await scores(addrTotalKey(c, "received"))).toEqual({ "addr-00": 7 });
    expect(await redis.exists(addrMinuteKey(c, "received", M0))).toBe(0);
  });

  test("malformed arguments come back as a coded error, and nothing is written", async () => {
    const c = fresh();
    const call = addressesCall(
      c,
      [
        tx(
          M0,
          [
            ["A", 1],
            ["B", 2],
          ],
          [["S", 4]],
        ),
      ],
      M0,
    );
    // ARGV: now, field, from, to, window, seen keep, budget, then hash, time, R, S, pairs.
    await expectScriptError(run(redis, { ...call, args: call.args.slice(0, -1) }), "applyAddresses", -1); // a pair cut short
    await expectScriptError(run(redis, withArg(call, 10, 3)), "applyAddresses", -1); // R says 3 outputs, 2 given
    await expectScriptError(run(redis, { ...call, args: [...call.args, "f".repeat(64), M0, 0] }), "applyAddresses", -1); // a record without S
    await expectScriptError(run(redis, withArg(call, 5, "x")), "applyAddresses", -2); // window length
    await expectScriptError(run(redis, withArg(call, 6, "x")), "applyAddresses", -2); // seen keep
    await expectScriptError(run(redis, withArg(call, 7, "")), "applyAddresses", -2); // budget
    await expectScriptError(run(redis, withArg(call, 9, "-60")), "applyAddresses", -3); // time
    await expectScriptError(run(redis, withArg(call, 10, "1.5")), "applyAddresses", -3); // R
    await expectScriptError(run(redis, withArg(call, 13, "-2")), "applyAddresses", -3); // a value
    await expectScriptError(run(redis, withArg(call, 1, "x")), "applyAddresses", -2); // now
    await expectScriptError(run(redis, withArg(advanceAddressWindow(c, M0), 1, "x")), "advanceAddressWindow", -2); // now
    await expectScriptError(run(redis, withArg(advanceAddressWindow(c, M0), 2, "x")), "advanceAddressWindow", -2);
    await expectScriptError(run(redis, withArg(advanceAddressWindow(c, M0), 3, "x")), "advanceAddressWindow", -2);
    expect(await namespace(c)).toEqual({});
  });
});

describe("applyTransactions-7 / trimTransactions-3", () => {
  test("stores each transaction once, as its API view's JSON, readable by hash and newest first", async () => {
    const c = fresh();
    const now = M0 + 200;
    const a = tx(
      M0 + 10,
      [
        ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 1000],
        [null, 0],
      ],
      [
        ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 1500],
        ["weird-address", null],
      ],
    );
    const b = tx(M0 + 70, [["3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 5]], [["A", 7]]);
    const d = tx(M0 + 69, [["A", 1]]);
    const first = await expectTtls(transactionsCall(c, [a, b, d, b], now), {
      [txBodyKey(c, a.hash)]: M0 + WINDOW_SECONDS + SEEN_MARGIN_SECONDS - now,
      [txBodyKey(c, b.hash)]: M0 + 60 + WINDOW_SECONDS + SEEN_MARGIN_SECONDS - now,
    });
    expect(first).toEqual({ status: "applied", applied: 3, duplicates: 1, stale: 0, removedByWindow: 0, removedByCap: 0, stored: 3 });
    expect(await run(redis, transactionsCall(c, [a], now))).toMatchObject({ status: "applied", applied: 0, duplicates: 1, stale: 0, stored: 3 });
    const served = ({ v: _v, received_at: _r, weight: _w, ...rest }: Transaction) => rest;
    expect(await transactionByHash(redis, c, a.hash)).toEqual(served(a));
    expect(await transactionByHash(redis, c, b.hash.toUpperCase())).toEqual(served(b));
    expect(await transactionByHash(redis, c, hex(-1))).toBeNull();
    expect(await latestTransactions(redis, c, 2)).toEqual([served(b), served(d)]);
    expect((await latestTransactions(redis, c, 10)).map((t) => t.hash)).toEqual([b.hash, d.hash, a.hash]);
    expect(await storedTransactionCount(redis, c)).toBe(3);
    // The body is the view's JSON, properties in the contract's order, as the API serves it.
    expect(await redis.get(txBodyKey(c, a.hash))).toBe(viewJson(a));
    expect(Object.keys(JSON.parse((await redis.get(txBodyKey(c, a.hash))) as string))).toEqual(["hash", "time", "size", "inputs", "outputs", "value", "fee"]);
    expect(JSON.parse((await redis.get(txBodyKey(c, a.hash))) as string)).toEqual(toView(a));
    expect(await scores(txByTimeKey(c))).toEqual({ [a.hash]: a.time, [b.hash]: b.time, [d.hash]: d.time });
    expect(await scores(seenKey(c, transactions))).toEqual({ [a.hash]: now, [b.hash]: now, [d.hash]: now });
  });

  test("equal times read in reverse hash order", async () => {
    // Changed by design: the index is a sorted set read backwards (ZREVRANGEBYSCORE), so
    // transactions of the same second come newest-first in reverse hash order.
    const c = fresh();
    const same = [tx(M0 + 10, [["A", 1]]), tx(M0 + 10, [["A", 2]]), tx(M0 + 10, [["A", 3]])];
    await run(redis, transactionsCall(c, [...same, tx(M0 + 5, [["A", 4]])], M0 + 60));
    const hashes = (await latestTransactions(redis, c, 3)).map((t) => t.hash);
    expect(hashes).toEqual(
      same
        .map((t) => t.hash)
        .sort()
        .reverse(),
    );
  });

  test("a second delivery of a hash stamped in another minute changes nothing", async () => {
    const c = fresh();
    const a = tx(M0 + 10, [["A", 1]]);
    await run(redis, transactionsCall(c, [a], M0 + 140));
    const before = await figures(c);
    expect(await run(redis, transactionsCall(c, [restamped(a, M0 + 130)], M0 + 140))).toMatchObject({ status: "applied", applied: 0, duplicates: 1, stale: 0, stored: 1 });
    expect(await figures(c)).toEqual(before);
    expect((await transactionByHash(redis, c, a.hash))?.time).toBe(M0 + 10);
  });

  test("keeps exactly the window: a minute goes when it leaves it, on write and on the timer", async () => {
    const c = fresh();
    const early = tx(M0 + 30, [["A", 1]]);
    const later = tx(M0 + 90, [["A", 1]]);
    await run(redis, transactionsCall(c, [early, later], M0 + 100));
    expect(await run(redis, trimTransactions(c, M0 + 179 * 60 + 59))).toEqual({ removedByWindow: 0, removedByCap: 0, stored: 2 });
    expect(await run(redis, trimTransactions(c, M0 + 180 * 60))).toEqual({ removedByWindow: 1, removedByCap: 0, stored: 1 });
    expect(await redis.exists(txBodyKey(c, early.hash))).toBe(0);
    expect(await transactionByHash(redis, c, early.hash)).toBeNull();
    expect(await redis.zscore(txByTimeKey(c), early.hash)).toBeNull();
    // On write: a later call drops the next minute as the window passes it; stale ones are refused.
    const now = M0 + 181 * 60;
    const staleOne = tx(M0 + 119, [["C", 1]]);
    const r = await run(redis, transactionsCall(c, [tx(now, [["B", 1]]), staleOne], now));
    expect(r).toEqual({ status: "applied", applied: 1, duplicates: 0, stale: 1, removedByWindow: 1, removedByCap: 0, stored: 1 });
    expect(await redis.exists(txBodyKey(c, later.hash), txBodyKey(c, staleOne.hash))).toBe(0);
    // latestTransactions with a time hides minutes already out, before any trim.
    expect(await latestTransactions(redis, c, 10, (now + WINDOW_SECONDS) * 1000)).toEqual([]);
  });

  test("never stores more than the cap: the oldest by time go first", async () => {
    const c = fresh({ TX_CAP: 5 });
    const now = M0 + 600;
    const m0 = [15, 3, 40].map((s) => tx(M0 + s, [["A", s]]));
    const m1 = [20, 5, 50, 33].map((s) => tx(M0 + 60 + s, [["A", s]]));
    expect(await run(redis, transactionsCall(c, m0, now))).toMatchObject({ applied: 3, removedByCap: 0, stored: 3 });
    expect(await run(redis, transactionsCall(c, m1, now))).toMatchObject({ applied: 4, removedByCap: 2, stored: 5 });
    // Minute M0 kept its newest one (M0+40); minute M0+1 is whole.
    expect((await latestTransactions(redis, c, 100)).map((t) => t.time - M0)).toEqual([110, 93, 80, 65, 40]);
    expect(await storedTransactionCount(redis, c)).toBe(5);
    expect(await redis.exists(txBodyKey(c, (m0[0] as Transaction).hash), txBodyKey(c, (m0[1] as Transaction).hash))).toBe(0);
    // A lower cap on the timer: the oldest go.
    const c3 = { ...c, TX_CAP: 3 };
    expect(await run(redis, trimTransactions(c3, now))).toEqual({ removedByWindow: 0, removedByCap: 2, stored: 3 });
    expect((await latestTransactions(redis, c, 100)).map((t) => t.time - M0)).toEqual([110, 93, 80]);
    // What the cap dropped is still remembered: delivered again, it is a duplicate, not stored anew.
    expect(await run(redis, transactionsCall(c3, m0, now))).toMatchObject({ applied: 0, duplicates: 3, stale: 0, stored: 3 });
    expect(await transactionByHash(redis, c, (m0[1] as Transaction).hash)).toBeNull();
  });

  test("every transaction stored goes to the stream, numbered 1, 2, … in the order stored, late ones included; duplicates, stale ones and a replay's stretches do not", async () => {
    const c = fresh();
    const now = M0 + 600;
    const entries = async () => (await transactionsAfter(redis, c, 0, 100)).map((e) => [e.n, e.tx.hash]);
    expect(await lastTransactionSeq(redis, c)).toBe(0);
    const a = tx(M0 + 300, [["A", 1]]);
    const b = tx(M0 + 200, [["A", 2]]);
    const late = tx(M0 + 100, [["A", 3]]); // stamped before both
    const staleOne = tx(M0 - 4 * 3600, [["A", 4]]);
    await run(redis, transactionsCall(c, [a, b, a], now));
    await run(redis, transactionsCall(c, [late, b, staleOne], now));
    expect(await entries()).toEqual([
      [1, a.hash],
      [2, b.hash],
      [3, late.hash],
    ]);
    // The entry is the stored JSON, with an explicit id.
    expect(await redis.xrange(txStreamKey(c), "-", "+", "COUNT", 1)).toEqual([["1-0", ["tx", viewJson(a)]]]);
    expect((await transactionsAfter(redis, c, 1, 1)).map((e) => e.tx)).toEqual([toView(b)]);
    expect(await lastTransactionSeq(redis, c)).toBe(3);

    // A replay's stretch (its end at or before the replay hash's `until`) is stored, not streamed; past it, streamed.
    const field = positionField("topic", 0);
    await run(redis, startReplay(c, transactions, field, "0", "10", 0));
    const replayed = [tx(M0 + 150, [["B", 1]]), tx(M0 + 160, [["B", 2]])];
    expect(await run(redis, transactionsCall(c, [replayed[0] as Transaction], now, { field, from: "0", to: "6" }))).toMatchObject({ applied: 1 });
    expect(await run(redis, transactionsCall(c, [replayed[1] as Transaction], now, { field, from: "6", to: "10" }))).toMatchObject({ applied: 1 });
    expect(await lastTransactionSeq(redis, c)).toBe(3);
    const live = tx(M0 + 170, [["B", 3]]);
    expect(await run(redis, transactionsCall(c, [live], now, { field, from: "10", to: "11" }))).toMatchObject({ applied: 1 });
    expect((await entries()).at(-1)).toEqual([4, live.hash]);

    // The drop leaves the stream; a stream emptied by hand goes on after its last id; a new one (a FLUSHALL) starts at 1.
    await transactions.drop(redis, c, WHOLE);
    expect(await lastTransactionSeq(redis, c)).toBe(4);
    await redis.xtrim(txStreamKey(c), "MAXLEN", 0);
    const next = tx(M0 + 180, [["B", 4]]);
    await run(redis, transactionsCall(c, [next], now));
    expect(await entries()).toEqual([[5, next.hash]]);
    await redis.unlink(txStreamKey(c));
    await run(redis, transactionsCall(c, [tx(M0 + 190, [["B", 5]])], now));
    expect(await lastTransactionSeq(redis, c)).toBe(1);
  });

  test("the stream is trimmed to about its length (MAXLEN ~)", async () => {
    const c = fresh();
    const many = Array.from({ length: 300 }, (_, i) => tx(M0 + (i % 60), [["T", i + 1]]));
    const call = withArg(transactionsCall(c, many, M0 + 120), 10, 100);
    expect(await run(redis, call)).toMatchObject({ applied: 300 });
    const length = await redis.xlen(txStreamKey(c));
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(300);
    expect(await lastTransactionSeq(redis, c)).toBe(300);
    const kept = await transactionsAfter(redis, c, 0, 1_000);
    expect(kept.map((e) => e.n)).toEqual(Array.from({ length }, (_, i) => 300 - length + 1 + i));
  });

  test("malformed arguments come back as a coded error, and nothing is written", async () => {
    const c = fresh();
    const call = transactionsCall(c, [tx(M0, [["A", 1]])], M0);
    // ARGV: now, field, from, to, window, cap, margin, budget, seen keep, stream length, then hash, time, body.
    await expectScriptError(run(redis, { ...call, args: call.args.slice(0, -1) }), "applyTransactions", -1);
    await expectScriptError(run(redis, withArg(call, 1, "x")), "applyTransactions", -2); // now
    await expectScriptError(run(redis, withArg(call, 5, "x")), "applyTransactions", -2);
    await expectScriptError(run(redis, withArg(call, 6, "")), "applyTransactions", -2);
    await expectScriptError(run(redis, withArg(call, 9, "x")), "applyTransactions", -2);
    await expectScriptError(run(redis, withArg(call, 10, "x")), "applyTransactions", -2); // stream length
    await expectScriptError(run(redis, withArg(call, 12, "-1")), "applyTransactions", -3);
    await expectScriptError(run(redis, withArg(call, 12, "12.5")), "applyTransactions", -3);
    await expectScriptError(run(redis, withArg(trimTransactions(c, M0), 3, "many")), "trimTransactions", -2);
    expect(await namespace(c)).toEqual({});
  });
});

describe("the position check (lua/includes/checkPosition.lua)", () => {
  for (const p of PROJECTIONS) {
    test(`${p.role}: applies only at its position and moves it; "unset" without one, "moved" elsewhere; nothing written on refusal`, async () => {
      const c = fresh();
      const field = positionField("topic", 0);
      const now = M0 + 600;
      const a = tx(M0 + 10, [["A", 1]], [["S", 2]]);
      const b = tx(M0 + 20, [["B", 3]], [["S", 4]]);
      const stretch = (from: string, to: string, f = field): Stretch => ({ field: f, from, to });

      // No position in Redis: refused, nothing written (not even the window or the seen set).
      expect(await run(redis, applyCall(p, c, [a], now, stretch("0", "3")))).toEqual({ status: "unset" });
      expect(await namespace(c)).toEqual({});

      expect(await run(redis, startReplay(c, p, field, "0", "10", 1_234))).toBe("0");
      expect(await redis.hgetall(positionKey(c, p))).toEqual({ [field]: "0" });
      // At the position: applied, and the position is the stretch's end.
      expect(await run(redis, applyCall(p, c, [a], now, stretch("0", "3")))).toMatchObject({ status: "applied", applied: 1 });
      expect(await redis.hgetall(positionKey(c, p))).toEqual({ [field]: "3" });

      // Elsewhere (a redelivery, or a stretch further on): "moved" with the stored position, nothing written.
      const before = await namespace(c);
      expect(await run(redis, applyCall(p, c, [b], now, stretch("0", "3")))).toEqual({ status: "moved", position: "3" });
      expect(await run(redis, applyCall(p, c, [b], now, stretch("5", "8")))).toEqual({ status: "moved", position: "3" });
      // Another partition without a position: "unset".
      expect(await run(redis, applyCall(p, c, [b], now, stretch("0", "1", positionField("topic", 1))))).toEqual({ status: "unset" });
      expect(await namespace(c)).toEqual(before);

      // The next stretch, from where the last ended; an empty stretch (dead letters only) moves it too.
      expect(await run(redis, applyCall(p, c, [b], now, stretch("3", "7")))).toMatchObject({ status: "applied", applied: 1 });
      expect(await run(redis, applyCall(p, c, [], now, stretch("7", "9")))).toMatchObject({ status: "applied", applied: 0 });
      expect(await redis.hgetall(positionKey(c, p))).toEqual({ [field]: "9" });
      expect(Object.keys(await scores(seenKey(c, p))).sort()).toEqual([a.hash, b.hash].sort());
      // Without a position (tests, benchmarks): applies and leaves the position alone.
      expect(await run(redis, applyCall(p, c, [tx(M0 + 30, [["C", 5]])], now))).toMatchObject({ status: "applied", applied: 1 });
      expect(await redis.hgetall(positionKey(c, p))).toEqual({ [field]: "9" });
    });
  }

  test("several calls of one batch in a pipeline: each applies at the position the previous one left", async () => {
    const c = fresh();
    const field = positionField("topic", 2);
    await run(redis, startReplay(c, counts, field, "100", "110", 0));
    const calls = [
      countsCall(c, [tx(M0, [["A", 1]])], M0 + 60, { field, from: "100", to: "104" }),
      countsCall(c, [tx(M0 + 1, [["A", 2]])], M0 + 60, { field, from: "104", to: "110" }),
      countsCall(c, [tx(M0 + 2, [["A", 4]])], M0 + 60, { field, from: "104", to: "110" }), // a redelivery
    ];
    const replies = await runAll(redis, calls);
    expect(replies.map((r) => r.status)).toEqual(["applied", "applied", "moved"]);
    expect(replies[2]).toEqual({ status: "moved", position: "110" });
    expect(await redis.hgetall(countsMinuteKey(c, M0))).toEqual({ count: "2", value: "3" });
  });
});

describe("startReplay-3", () => {
  test("sets the position and the replay only when the partition has no position; another process's stands", async () => {
    const c = fresh();
    const f0 = positionField("topic", 0);
    const f1 = positionField("topic", 1);
    const raw = (call: ScriptCall<string>) => run(redis, { ...call, parse: (reply: unknown) => reply });
    expect(await raw(startReplay(c, addresses, f0, "40", "90", 1_700_000_000_000))).toEqual(["started", "40"]);
    expect(await redis.hgetall(positionKey(c, addresses))).toEqual({ [f0]: "40" });
    const replay = { [`${f0}:from`]: "40", [`${f0}:until`]: "90", [`${f0}:covers_from_ms`]: "1700000000000" };
    expect(await redis.hgetall(replayKey(c, addresses))).toEqual(replay);

    // Another process comes second, with other figures: the first one's stand.
    expect(await raw(startReplay(c, addresses, f0, "0", "95", 5))).toEqual(["moved", "40"]);
    expect(await run(redis, startReplay(c, addresses, f0, "0", "95", 5))).toBe("40");
    // After the group moved on, the moved position is what comes back.
    await run(redis, addressesCall(c, [tx(M0, [["A", 1]])], M0 + 10, { field: f0, from: "40", to: "47" }));
    expect(await run(redis, startReplay(c, addresses, f0, "0", "95", 5))).toBe("47");
    expect(await redis.hgetall(positionKey(c, addresses))).toEqual({ [f0]: "47" });
    expect(await redis.hgetall(replayKey(c, addresses))).toEqual(replay);

    // Another partition starts on its own; the other groups are untouched.
    expect(await run(redis, startReplay(c, addresses, f1, "7", "7", 0))).toBe("7");
    expect(await redis.hgetall(positionKey(c, addresses))).toEqual({ [f0]: "47", [f1]: "7" });
    expect(await redis.hgetall(replayKey(c, addresses))).toEqual({ ...replay, [`${f1}:from`]: "7", [`${f1}:until`]: "7", [`${f1}:covers_from_ms`]: "0" });
    expect(PROJECTIONS).toContain(addresses);
    for (const p of PROJECTIONS) if (p !== addresses) expect({ role: p.role, keys: await keysOf(groupKeyPattern(c, p)) }).toEqual({ role: p.role, keys: [] });
  });
});

describe("dropping a projection (dropCounts-6, dropAddresses-10, dropTransactions-6)", () => {
  test("deletes every key of the group, its position and replay included, and nothing of the other groups; sets its version again", async () => {
    const c = fresh();
    // On Redis's clock: dropCounts finds the buckets that can still exist from it.
    const now = Math.floor((await redisMs()) / 1000);
    const txs = [
      tx(now - 30, [["A", 1]], [["S", 2]]),
      tx(now - 95, [["B", 3]], [["S", 4]]),
      tx(now - 2 * 3600, [["C", 5]]),
      tx(now - 3 * 3600 - 600, [["D", 6]]), // before the 3-hour window: its hour only
      tx(now - 20 * 3600, [["E", 7]]), // its hour only
      tx(now + 1800, [["F", 8]]), // stamped ahead
    ];
    const filled = await fill(redis, c, txs);
    await moveWindow(redis, c);
    for (const p of PROJECTIONS) await run(redis, startReplay(c, p, positionField("topic", 0), "0", "6", 0));
    await redis.hset(metricsKey(c), { producer_received_total: "6" });
    const held = async (p: ConsumerProjection) => (await keysOf(groupKeyPattern(c, p))).length;

    // What each projection holds, key by key.
    const distinct = (xs: number[]) => new Set(xs).size;
    const inWindow = txs.filter((t) => minuteOf(t.time) >= windowStart(now));
    // The minute buckets not yet expired (the one 20 h back is not), every hour bucket, seen, position, replay, version.
    expect(await held(counts)).toBe(distinct(txs.map((t) => minuteOf(t.time)).filter((m) => m + MINUTE_BUCKET_KEEP_SECONDS > now)) + distinct(txs.map((t) => hourOf(t.time))) + 4);
    // Both totals, the minutes index, the window, a received set per minute in the window, the 2 sent sets, seen, position, replay, version.
    expect(await held(addresses)).toBe(4 + distinct(inWindow.map((t) => minuteOf(t.time))) + 2 + 4);
    // The index, the 4 bodies in the window (the 2 older ones are stale), the stream, seen, position, replay, version.
    expect(await held(transactions)).toBe(1 + 4 + 1 + 4);

    for (const p of PROJECTIONS) {
      // Every projection applied, found stale or refused each transaction, and holds its seen set, position, replay and version besides what it applied.
      const refused = txs.filter((t) => (p.apply.refuse?.(t) ?? null) !== null).length;
      expect({ role: p.role, taken: (filled[p.role]?.applied ?? 0) + (filled[p.role]?.stale ?? 0) + refused }).toEqual({ role: p.role, taken: txs.length });
      expect(filled[p.role]?.applied).toBeGreaterThan(0);
      expect(await redis.exists(seenKey(c, p), positionKey(c, p), replayKey(c, p), versionKey(c, p))).toBe(4);
      const keys = await held(p);
      expect(keys).toBeGreaterThan(4);
      const version = Number(await redis.get(versionKey(c, p)));
      const others = async () => {
        const all = await namespace(c);
        return Object.fromEntries(Object.entries(all).filter(([key]) => !key.startsWith(groupPrefix(c, p))));
      };
      const before = await others();
      // Its drop deletes every key it held, and says so; but its version, set again (a greater one), and the
      // transactions' stream, a feed trimmed by itself.
      const left = [versionKey(c, p), ...(p === transactions ? [txStreamKey(c)] : [])].sort();
      expect(await p.drop(redis, c, WHOLE)).toBe(keys - left.length);
      expect((await keysOf(groupKeyPattern(c, p))).map(String).sort()).toEqual(left);
      expect(await others()).toEqual(before);
      const dropped = Number(await redis.get(versionKey(c, p)));
      expect(dropped).toBeGreaterThan(version);
      // Dropping an empty projection deletes nothing, and leaves the version alone.
      expect(await p.drop(redis, c, WHOLE)).toBe(0);
      expect(Number(await redis.get(versionKey(c, p)))).toBe(dropped);
    }
    expect(Object.keys(await namespace(c)).sort()).toEqual([metricsKey(c), txStreamKey(c), ...PROJECTIONS.map((p) => versionKey(c, p))].sort());
  });

  test("a malformed setting of dropCounts is a coded error, and nothing is deleted", async () => {
    const c = fresh();
    await fill(redis, c, [tx(Math.floor((await redisMs()) / 1000) - 10, [["A", 1]])], { roles: [counts.role] });
    const before = await namespace(c);
    await expectScriptError(run(redis, withArg(dropCounts(c), 2, "x")), "dropCounts", -2);
    expect(await namespace(c)).toEqual(before);
  });
});

describe("every key and value is text", () => {
  test("no key, string, hash field, member or score holds a non-printable byte", async () => {
    const c = fresh({ TX_CAP: 50 });
    const now = M0 + 3600;
    const txs = [
      tx(
        M0 + 1,
        [
          ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 2_100_000_000_000_000],
          [null, 0],
        ],
        [
          ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 2_000_000_000_001_000],
          ["x", null],
        ],
      ),
      tx(M0 + 61, [["3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 5]], [["addr-é", 7]]),
      tx(M0 + 3599, [["A", 1]], []),
      tx(H0 - 5 * 3600, [["old", 1]]), // counts only
    ];
    for (const p of PROJECTIONS) await run(redis, startReplay(c, p, positionField("topic", 3), "0", "4", 1_700_000_000_000));
    for (const p of PROJECTIONS) expect(await run(redis, applyCall(p, c, txs, now, { field: positionField("topic", 3), from: "0", to: "4" }))).toMatchObject({ status: "applied" });
    await fill(redis, c, [tx(M0 + 120, [["B", 9]], [["C", 10]])], { at: now });
    await run(redis, advanceAddressWindow(c, now));
    await run(redis, trimTransactions(c, now));

    const dump = await rawDump(`${keyPrefix(c)}*`);
    const types = new Set(dump.map((d) => d.type));
    expect([...types].sort()).toEqual(["hash", "stream", "string", "zset"]);
    expect(dump.length).toBeGreaterThan(15);
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    const bad: string[] = [];
    for (const { key, parts } of dump) {
      for (const bytes of [key, ...parts]) {
        let text: string;
        try {
          text = utf8.decode(bytes);
        } catch {
          bad.push(`${key.toString("hex")}: not UTF-8: ${bytes.toString("hex")}`);
          continue;
        }
        if (/[\u0000-\u001f\u007f]/.test(text)) bad.push(`${key.toString()}: ${JSON.stringify(text)}`);
      }
    }
    expect(bad).toEqual([]);
    // Numbers are decimal text: counts, values, scores, positions, the window start.
    // Hour H0 holds M0+1, M0+61 and M0+120 (M0+3599 is in the next hour).
    expect(await redis.hgetall(countsHourKey(c, H0))).toEqual({ count: "3", value: String(2_100_000_000_000_000 + 5 + 9) });
    expect(await redis.get(addrWindowKey(c))).toBe(String(windowStart(now)));
    for (const p of PROJECTIONS) expect(await redis.hgetall(positionKey(c, p))).toEqual({ [positionField("topic", 3)]: "4" });
  });
});

// ---- all or nothing (issue 17, item 4) ---------------------------------------------------------

const MAX = MAX_SATOSHI;
/** The keys of `c`'s namespace and their contents, named without the namespace's prefix (to compare namespaces). */
const relative = async (c: Config) => Object.fromEntries(Object.entries(await namespace(c)).map(([key, v]) => [key.slice(keyPrefix(c).length), v]));
/** `state` with each version's value (Redis's time of the write) as "<version>": two runs of the same calls compare equal. */
const versionless = (state: Record<string, string[]>) =>
  Object.fromEntries(Object.entries(state).map(([key, v]) => [key, isVersion(key) && v[0] === "string" ? ["string", "<version>"] : v]));

describe("all or nothing: bounds (OUT_OF_RANGE)", () => {
  test("the consumer's schema refuses a value, or outputs or inputs adding up to, more than 21 million BTC", () => {
    const ok = tx(M0, [["A", MAX]], [["S", MAX]]);
    expect(checkTransaction(ok).ok).toBe(true);
    expect(checkTransaction({ ...ok, value: MAX + 1 })).toMatchObject({ ok: false, reason: expect.stringContaining("/value") });
    expect(checkTransaction(tx(M0, [["A", MAX + 1]]))).toMatchObject({ ok: false });
    expect(
      checkTransaction({
        ...tx(M0, [["A", MAX]]),
        outputs: [
          { address: "A", value: MAX },
          { address: "B", value: 1 },
        ],
      }),
    ).toEqual({
      ok: false,
      reason: "/outputs: outputs add up to more than 21 million BTC",
    });
    expect(
      checkTransaction(
        tx(
          M0,
          [["A", 1]],
          [
            ["S", MAX],
            ["T", 1],
          ],
        ),
      ),
    ).toEqual({ ok: false, reason: "/inputs: inputs add up to more than 21 million BTC" });
    expect(checkTransaction({ ...ok, fee: -MAX - 1 })).toMatchObject({ ok: false });
  });

  test("counts: a value above 21 million BTC refuses the whole call, and nothing is written", async () => {
    const c = fresh();
    await run(redis, countsCall(c, [tx(M0, [["A", 5]])], M0 + 10));
    const before = await namespace(c);
    await expectScriptError(run(redis, countsCall(c, [tx(M0 + 1, [["A", 1]]), { ...tx(M0 + 2, [["A", 1]]), value: MAX + 1 }], M0 + 10)), "applyCounts", -4);
    expect(await namespace(c)).toEqual(before);
  });

  test("counts: an hour that would leave int64 refuses the call before anything is written; minute and hour stay in step", async () => {
    const c = fresh();
    const now = M0 + 600;
    // The hour holds almost what int64 can: 1.5 maximal transactions more fit below EXACT_INT64 (9.2e18).
    const near = 9_200_000_000_000_000_000n - (3n * BigInt(MAX)) / 2n;
    await redis.hset(countsHourKey(c, H0), { count: "4379", value: String(near) });
    const a = tx(M0 + 1, [["A", MAX]]);
    const b = tx(M0 + 2, [["A", MAX]]);
    const before = await namespace(c);
    // Both together would leave the range: the whole call is refused, the seen set included.
    await expectScriptError(run(redis, countsCall(c, [a, b], now)), "applyCounts", -4);
    expect(await namespace(c)).toEqual(before);
    // Record by record (what src/consumers/refusals.ts does): the first fits, the second is refused.
    expect(await run(redis, countsCall(c, [a], now))).toMatchObject({ status: "applied", applied: 1 });
    const afterA = await namespace(c);
    await expectScriptError(run(redis, countsCall(c, [b], now)), "applyCounts", -4);
    expect(await namespace(c)).toEqual(afterA);
    expect(await redis.hgetall(countsHourKey(c, H0))).toEqual({ count: "4380", value: String(near + BigInt(MAX)) });
    expect(await redis.hgetall(countsMinuteKey(c, M0))).toEqual({ count: "1", value: String(MAX) });
    // b was never remembered: once the hour has room, it counts.
    await redis.hset(countsHourKey(c, H0), "value", "0");
    expect(await run(redis, countsCall(c, [b], now))).toMatchObject({ status: "applied", applied: 1, duplicates: 0 });
  });

  test("addresses: a value above 21 million BTC for an address or a side refuses the call, and nothing is written", async () => {
    const c = fresh();
    const now = M0 + 120;
    await run(redis, addressesCall(c, [tx(M0, [["A", 5]], [["S", 1]])], now));
    const before = await namespace(c);
    const tooMuch = (t: Transaction) => expectScriptError(run(redis, addressesCall(c, [tx(M0 + 3, [["B", 1]]), t], now)), "applyAddresses", -4);
    await tooMuch({ ...tx(M0 + 1, [["A", 1]]), outputs: [{ address: "A", value: MAX + 1 }] });
    await tooMuch({
      ...tx(M0 + 1, [["A", 1]]),
      outputs: [
        { address: "A", value: MAX },
        { address: "B", value: 1 },
      ],
    });
    await tooMuch({
      ...tx(M0 + 1, [["A", 1]]),
      inputs: [
        { address: "S", value: MAX },
        { address: "T", value: 1 },
      ],
    });
    expect(await namespace(c)).toEqual(before);
  });

  test("addresses: a total or a minute score that would reach 2^53 refuses the call before anything is written", async () => {
    const c = fresh();
    const now = M0 + 120;
    const EXACT = 2 ** 53;
    await run(redis, addressesCall(c, [tx(M0, [["A", 5]])], now));
    await redis.zadd(addrTotalKey(c, "received"), EXACT - 100, "A");
    await redis.zadd(addrMinuteKey(c, "sent", M0 + 60), EXACT - 100, "S");
    const before = await namespace(c);
    await expectScriptError(run(redis, addressesCall(c, [tx(M0 + 61, [["A", 100]])], now)), "applyAddresses", -4);
    await expectScriptError(run(redis, addressesCall(c, [tx(M0 + 62, [["B", 1]], [["S", 100]])], now)), "applyAddresses", -4);
    expect(await namespace(c)).toEqual(before);
    expect(await run(redis, addressesCall(c, [tx(M0 + 63, [["A", 99]], [["S", 99]])], now))).toMatchObject({ status: "applied", applied: 1 });
    expect((await scores(addrTotalKey(c, "received"))).A).toBe(EXACT - 1);
    expect((await scores(addrMinuteKey(c, "sent", M0 + 60))).S).toBe(EXACT - 1);
    // Another address near the bound does not stop one far from it (the check reads each address's own score).
    expect(await run(redis, addressesCall(c, [tx(M0 + 64, [["B", 1_000_000]], [["T", 1_000_000]])], now))).toMatchObject({ status: "applied", applied: 1 });
    expect((await scores(addrTotalKey(c, "received"))).B).toBe(1_000_000);
  });
});

/**
 * Failure injection: for each apply script, a key of the wrong type is planted at each key its
 * call writes (found by running the same call on a twin namespace), the original set aside.
 * The call answers {"wrong_type", key} and writes nothing (the address window's move, upkeep
 * that stops before a wrong minute set, aside); once the planted key is removed, the retry ends
 * exactly where a run without the failure ends. A body of the transactions group is no failure:
 * SET replaces whatever is there.
 */
describe("all or nothing: a key of the wrong type at each key a call writes", () => {
  const FIELD = positionField("topic", 0);
  const at = (from: number, to: number): Stretch => ({ field: FIELD, from: String(from), to: String(to) });
  const windowEnd = M0 + WINDOW_SECONDS + 30; // minute M0 has left the window, M0 + 60 has not
  const early = [
    tx(
      M0 + 1,
      [
        ["A", 10],
        ["B", 3],
      ],
      [["S", 20]],
    ),
    tx(M0 + 61, [["A", 7]], [["T", 9]]),
    tx(M0 + 130, [["C", 4]], [["S", 6]]),
  ];
  const late = [
    tx(
      windowEnd - 20,
      [
        ["A", 1],
        ["D", 2],
      ],
      [["S", 3]],
    ),
    tx(windowEnd - 80, [["B", 5]], [["U", 6]]),
    early[1] as Transaction,
  ];
  /**
   * Every projection runs the same two calls: `early` at M0 + 200, then `late` when minute M0 has
   * left the window. A cap of 3 (TX_CAP; only the transactions projection reads it): the late
   * call's two new transactions push the oldest one left in the window out, besides the one the
   * window drops.
   */
  const CONFIG: Partial<Config> = { TX_CAP: 3 };
  const SETUP_AT = M0 + 200;

  /** What a projection's apply call may do besides refusing with wrong_type and writing nothing. */
  interface Leeway {
    /** Keys (named without the namespace's prefix) it replaces or unlinks whatever they hold: it applies. */
    replaces?: (name: string) => boolean;
    /** Keys at which it refuses after upkeep any process may do at any time (it wrote that much first). */
    movesFirst?: (name: string) => boolean;
  }
  const leeway = new Map<ConsumerProjection, Leeway>();
  // A body: SET replaces what was planted, and a trimmed body is unlinked whatever it holds.
  leeway.set(transactions, { replaces: (name) => new RegExp(`^${transactions.namespace}:[0-9a-f]{64}$`).test(name) });
  // The window's move comes first, and stops before the planted minute set of M0 (the minute that leaves the window).
  leeway.set(addresses, { movesFirst: (name) => name.includes(String(M0)) && !name.includes(String(M0 + 60)) });

  /** The kind of a key: its name with its minute, hour or hash left out. */
  const kindOf = (name: string) => name.replace(/[0-9a-f]{64}/g, "<hash>").replace(/\d+/g, "<n>");

  async function setup(p: ConsumerProjection, c: Config) {
    await run(redis, startReplay(c, p, FIELD, "0", "6", 0));
    expect(await run(redis, applyCall(p, c, early, SETUP_AT, at(0, 3)))).toMatchObject({ status: "applied", applied: 3 });
  }
  const call = (p: ConsumerProjection, c: Config) => applyCall(p, c, late, windowEnd, at(3, 6));
  /**
   * What the late call does: its two new transactions applied; the copy of early[1] a duplicate
   * while its minute is still within what the projection keeps, else stale.
   */
  const lateFigures = (p: ConsumerProjection) => {
    const kept = minuteOf((early[1] as Transaction).time) + p.keepSeconds > windowEnd;
    return { status: "applied", applied: 2, duplicates: kept ? 1 : 0, stale: kept ? 0 : 1 };
  };

  for (const p of PROJECTIONS) {
    test(`${p.role}: wrong_type names the key and nothing is half-written; the retry ends as a run without the failure`, async () => {
      const { replaces = () => false, movesFirst = () => false } = leeway.get(p) ?? {};
      const twin = fresh(CONFIG);
      await setup(p, twin);
      const start = await relative(twin);
      expect(await run(redis, call(p, twin))).toMatchObject(lateFigures(p));
      const reference = await relative(twin);
      const written = [...new Set([...Object.keys(start), ...Object.keys(reference)])].filter((k) => JSON.stringify(start[k]) !== JSON.stringify(reference[k])).sort();
      // Every kind of key the projection holds (but its replay, which the call does not write) is among them,
      // and one kind more than once (the late transactions fall in two minutes).
      const replay = replayKey(twin, p).slice(keyPrefix(twin).length);
      const kinds = new Set(
        Object.keys(reference)
          .filter((k) => k !== replay)
          .map(kindOf),
      );
      expect([...kinds].filter((k) => !written.some((w) => kindOf(w) === k))).toEqual([]);
      expect(written.length).toBeGreaterThan(kinds.size);
      // A leeway is used, not vacuous.
      if (leeway.get(p)?.replaces) expect(written.some(replaces)).toBe(true);

      const answers: Record<string, string> = {};
      for (const name of written) {
        const c = fresh(CONFIG);
        await setup(p, c);
        const key = keyPrefix(c) + name;
        const aside = `${key}:aside`;
        const existed = (await redis.exists(key)) === 1;
        if (existed) await redis.rename(key, aside);
        // Another type than the script's own: a hash where it keeps a string, else a string.
        if ((start[name] ?? reference[name])?.[0] === "string") await redis.hset(key, "written", "by hand");
        else await redis.set(key, "written by hand");
        const planted = await namespace(c);
        const result = await run(redis, call(p, c));
        if (result.status === "wrong_type") {
          expect(result.key).toBe(key);
          const after = await namespace(c);
          // Nothing written, but for upkeep that comes first (the address window's move, stopped before the planted minute set).
          if (JSON.stringify(after) !== JSON.stringify(planted)) expect({ name, movesFirst: movesFirst(name) }).toEqual({ name, movesFirst: true });
          await redis.del(key);
          if (existed) await redis.rename(aside, key);
          expect(await run(redis, call(p, c))).toMatchObject(lateFigures(p));
          answers[name] = "wrong_type";
        } else {
          // A key the script replaces or unlinks whole (a transaction's body).
          expect(result).toMatchObject(lateFigures(p));
          if (existed) await redis.del(aside);
          answers[name] = "applied";
        }
        expect(versionless(await relative(c))).toEqual(versionless(reference));
      }
      // Every key refused with wrong_type, but those the projection replaces whole.
      expect(answers).toEqual(Object.fromEntries(written.map((name) => [name, replaces(name) ? "applied" : "wrong_type"])));
    });
  }

  test("advanceAddressWindow stops before a minute set of the wrong type and names it", async () => {
    const c = fresh();
    await run(redis, addressesCall(c, early, M0 + 200));
    await redis.set(addrMinuteKey(c, "sent", M0), "written by hand");
    await expect(run(redis, advanceAddressWindow(c, windowEnd))).rejects.toThrow(`WRONGTYPE ${addrMinuteKey(c, "sent", M0)}`);
    await redis.del(addrMinuteKey(c, "sent", M0));
    expect(await run(redis, advanceAddressWindow(c, windowEnd))).toMatchObject({ windowStart: windowStart(windowEnd), waiting: false });
  });
});

// ---- once by hash over the whole horizon (issue 17, item 7) ------------------------------------

describe("once by hash: a group remembers a hash from its first copy's arrival for its keep plus the future-time limit", () => {
  for (const p of PROJECTIONS) {
    test(`${p.role}: a copy re-stamped past its replay lookback (or 3 h 15 min later), or just inside the horizon, is not applied again; past the horizon it is`, async () => {
      const c = fresh();
      const horizon = seenKeepSeconds(p);
      const a = tx(M0 + 5, [["A", 100]], [["S", 150]]);
      expect(await run(redis, applyCall(p, c, [a], a.time))).toMatchObject({ status: "applied", applied: 1 });
      // 3 h 15 min: past the 3-hour window and its margin; each projection's own lookback plus 5 min; a minute inside the horizon.
      const delays = [3 * 3600 + 15 * 60, p.replayLookbackSeconds + 5 * 60, horizon - 60].filter((d) => d < horizon);
      expect(delays).toContain(p.replayLookbackSeconds + 5 * 60);
      expect(delays).toContain(horizon - 60);
      for (const delay of delays) {
        const copy = restamped(a, a.time + delay);
        expect(await run(redis, applyCall(p, c, [copy], copy.time))).toMatchObject({ status: "applied", applied: 0, duplicates: 1, stale: 0 });
      }
      // The horizon is the first copy's arrival plus seenKeepSeconds: a copy stamped later than that counts again.
      const beyond = restamped(a, a.time + horizon + 60);
      expect(await run(redis, applyCall(p, c, [beyond], beyond.time))).toMatchObject({ status: "applied", applied: 1, duplicates: 0 });
    });
  }

  test("the horizon: each projection's replay lookback (at least its keep) plus the future-time limit; 26 h for counts, 4 h 10 min for addresses and transactions", () => {
    for (const p of PROJECTIONS) {
      expect(seenKeepSeconds(p)).toBe(p.replayLookbackSeconds + MAX_AHEAD_SECONDS);
      expect(p.replayLookbackSeconds).toBeGreaterThanOrEqual(p.keepSeconds);
    }
    expect(seenKeepSeconds(counts)).toBe(HOUR_BUCKET_KEEP_SECONDS + MAX_AHEAD_SECONDS);
    expect(seenKeepSeconds(addresses)).toBe(WINDOW_SECONDS + SEEN_MARGIN_SECONDS + MAX_AHEAD_SECONDS);
    expect(seenKeepSeconds(transactions)).toBe(WINDOW_SECONDS + SEEN_MARGIN_SECONDS + MAX_AHEAD_SECONDS);
  });
});
