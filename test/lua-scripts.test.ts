/**
 * Each Lua script alone, through its typed wrapper, on the real Redis, with `now` passed in:
 * dedupe, stale records, window expiry at minute boundaries, trimming, the cap, error codes.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { addressBatch, addressEffect, addressesCalls, advanceWindow } from "../src/consumers/addresses.ts";
import { decodeBody, encodeBody } from "../src/consumers/body.ts";
import { countsCalls } from "../src/consumers/counts.ts";
import { sumResults } from "../src/consumers/group.ts";
import { SEEN_MARGIN_SECONDS, WINDOW_SECONDS, fingerprint, seenBucket, windowStart } from "../src/consumers/state.ts";
import { transactionsCalls } from "../src/consumers/transactions.ts";
import {
  addrNamesPrefix,
  addrReceivedKey,
  addrSentKey,
  addrSliceKey,
  addrSlicesKey,
  addrWindowKey,
  countsHourKey,
  countsMinuteKey,
  seenKey,
  txListKey,
  txMinutesKey,
} from "../src/redis/keys.ts";
import { latestTransactions, storedTransactionCount, topAddresses, transactionByHash } from "../src/redis/read.ts";
import { advanceAddressWindow, applyAddresses, applyCounts, runAll, run, ScriptError, trimTransactions } from "../src/redis/scripts.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/transaction.ts";
import { testEnv } from "./helpers/env.ts";

// Bun 1.3 applies the preload's default timeout to the first test file only.
setDefaultTimeout(60_000);

const { redis, config } = testEnv();

/** A minute boundary well in the past, so nothing here depends on the clock. */
const M0 = 1_700_000_040 - (1_700_000_040 % 60);
let serial = 0;
const hex = (n: number) => createHash("sha256").update(String(n)).digest("hex");

function tx(time: number, outputs: [string | null, number][], inputs: [string | null, number | null][] = [], hash = hex(++serial)): Transaction {
  const value = outputs.reduce((s, [, v]) => s + v, 0);
  const spent = inputs.every(([, v]) => v !== null) ? inputs.reduce((s, [, v]) => s + (v ?? 0), 0) : null;
  return {
    v: SCHEMA_VERSION,
    hash,
    time,
    size: 250,
    inputs: inputs.map(([address, value]) => ({ address, value })),
    outputs: outputs.map(([address, value]) => ({ address, value })),
    value,
    fee: spent === null || !inputs.length ? null : spent - value,
    received_at: time * 1000,
  };
}

/** A config with its own key namespace, so each test starts empty. */
let ns = 0;
const fresh = (extra: Record<string, number> = {}) => ({ ...config, REDIS_PREFIX: `${config.REDIS_PREFIX}-${++ns}`, ...extra }) as typeof config;

const scores = async (key: string) => {
  const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
  const out: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = Number(flat[i + 1]);
  return out;
};

describe("applyCounts-3", () => {
  test("counts and sums each transaction once in its minute and hour, with TTLs", async () => {
    const c = fresh();
    const now = M0 + 600;
    const a = tx(M0 + 5, [["A", 100]]);
    const b = tx(M0 + 59, [["B", 50], ["C", 7]]);
    const d = tx(M0 + 60, [["A", 1]]);
    const first = sumResults(await runAll(redis, countsCalls(c, [a, b, d, a], now)));
    expect(first).toEqual({ applied: 3, duplicates: 1, stale: 0 });
    const again = sumResults(await runAll(redis, countsCalls(c, [b, d], now)));
    expect(again).toEqual({ applied: 0, duplicates: 2, stale: 0 });
    expect(await redis.hgetall(countsMinuteKey(c, M0))).toEqual({ count: "2", value: "157" });
    expect(await redis.hgetall(countsMinuteKey(c, M0 + 60))).toEqual({ count: "1", value: "1" });
    const hour = M0 - (M0 % 3600);
    expect(await redis.hgetall(countsHourKey(c, hour))).toEqual({ count: "3", value: "158" });
    // TTLs follow the bucket's own time, not the time of the call.
    const minuteTtl = await redis.ttl(countsMinuteKey(c, M0));
    expect(Math.abs(minuteTtl - (M0 + WINDOW_SECONDS + 3600 - now))).toBeLessThanOrEqual(2);
    const seenTtl = await redis.ttl(seenKey(c, "counts", M0, seenBucket(a.hash)));
    expect(Math.abs(seenTtl - (M0 + WINDOW_SECONDS + SEEN_MARGIN_SECONDS - now))).toBeLessThanOrEqual(2);
    // The dedupe set stays a compact intset.
    expect(await redis.object("ENCODING", seenKey(c, "counts", M0, seenBucket(a.hash)))).toBe("intset");
  });

  test("a transaction from before the window is stale and changes nothing", async () => {
    const c = fresh();
    const now = M0 + WINDOW_SECONDS; // window starts at M0 + 60
    const old = tx(M0 + 59, [["A", 100]]);
    const edge = tx(M0 + 60, [["A", 100]]);
    expect(sumResults(await runAll(redis, countsCalls(c, [old, edge], now)))).toEqual({ applied: 1, duplicates: 0, stale: 1 });
    expect(await redis.exists(countsMinuteKey(c, M0))).toBe(0);
    expect(await redis.hget(countsMinuteKey(c, M0 + 60), "count")).toBe("1");
  });

  test("values near 21 million BTC add up exactly", async () => {
    const c = fresh();
    const big = 2_100_000_000_000_000;
    const txs = Array.from({ length: 6 }, (_, i) => tx(M0 + i, [["A", big]]));
    await runAll(redis, countsCalls(c, txs, M0 + 10));
    expect(await redis.hget(countsMinuteKey(c, M0), "value")).toBe(String(6n * BigInt(big)));
  });

  test("malformed arguments come back as a coded error, and nothing is applied", async () => {
    const c = fresh();
    const call = applyCounts(c, M0, [{ time: M0, bucket: 0, fp: "1", value: 5 }]);
    await expect(run(redis, { ...call, args: call.args.slice(0, -1) })).rejects.toThrow(new ScriptError("applyCounts", -1));
    await expect(run(redis, { ...call, args: [...call.args.slice(0, -1), "-5"] })).rejects.toThrow(/not a non-negative integer/);
    await expect(run(redis, { ...call, args: ["soon", ...call.args.slice(1)] })).rejects.toThrow(/now or a setting is not a number/);
    expect(await redis.exists(countsMinuteKey(c, M0))).toBe(0);
  });
});

describe("applyAddresses-7 / advanceAddressWindow-6", () => {
  test("adds received and sent per address, once; zero values, unknown values and null addresses count nothing", async () => {
    const c = fresh();
    const now = M0 + 120;
    const t1 = tx(M0 + 1, [["A", 100], ["B", 5], [null, 0], ["A", 1]], [["X", 300], ["Y", null]]);
    const t2 = tx(M0 + 61, [["B", 10], ["Z", 0]], [["X", 20]]);
    const r = sumResults(await runAll(redis, addressesCalls(c, [t1, t2, t1], now)));
    expect(r).toEqual({ applied: 2, duplicates: 1, stale: 0 });
    expect(sumResults(await runAll(redis, addressesCalls(c, [t2], now)))).toEqual({ applied: 0, duplicates: 1, stale: 0 });
    expect(await scores(addrReceivedKey(c))).toEqual({ A: 101, B: 15 });
    expect(await scores(addrSentKey(c))).toEqual({ X: 320 });
    expect(await topAddresses(redis, c, "received", 1)).toEqual([{ address: "A", total_value: 101 }]);
    expect(await redis.zrange(addrSlicesKey(c), 0, -1)).toEqual([String(M0), String(M0 + 60)]);
  });

  test("a minute leaves the window exactly 180 minutes after it started", async () => {
    const c = fresh();
    await runAll(redis, addressesCalls(c, [tx(M0 + 30, [["A", 100]], [["S", 9]]), tx(M0 + 60, [["A", 5], ["B", 1]])], M0 + 61));
    // At M0 + 179:59 the window is M0 .. M0+179: nothing leaves.
    expect(await advanceWindow(redis, c, M0 + 179 * 60 + 59)).toBe(0);
    expect(await scores(addrReceivedKey(c))).toEqual({ A: 105, B: 1 });
    expect(await redis.get(addrWindowKey(c))).toBe(String(M0));
    // At M0 + 180:00 minute M0 is out: A keeps what minute M0+1 gave it; S reaches 0 and goes.
    expect(await advanceWindow(redis, c, M0 + 180 * 60)).toBe(1);
    expect(await scores(addrReceivedKey(c))).toEqual({ A: 5, B: 1 });
    expect(await scores(addrSentKey(c))).toEqual({});
    expect(await redis.exists(addrSliceKey(c, M0))).toBe(0);
    // Idempotent, and the window never moves back (another process with a slower clock).
    expect(await advanceWindow(redis, c, M0 + 180 * 60)).toBe(0);
    expect((await run(redis, advanceAddressWindow(c, M0 + 100))).windowStart).toBe(M0 + 60);
    expect(await scores(addrReceivedKey(c))).toEqual({ A: 5, B: 1 });
    // A transaction of a minute already out of the window does not enter it.
    const late = sumResults(await runAll(redis, addressesCalls(c, [tx(M0 + 59, [["C", 7]])], M0 + 100)));
    expect(late).toEqual({ applied: 0, duplicates: 0, stale: 1 });
    // The last minute leaves: everything is gone, names included.
    await advanceWindow(redis, c, M0 + 181 * 60);
    expect(await redis.zcard(addrReceivedKey(c))).toBe(0);
    expect(await redis.zcard(addrSlicesKey(c))).toBe(0);
    const names = await redis.keys(`${addrNamesPrefix(c)}*`);
    const left = names.length ? await Promise.all(names.map((k) => redis.hlen(k))) : [];
    expect(left.reduce((a, b) => a + b, 0)).toBe(0);
  });

  test("applying moves the window first; many expired minutes go a few per call", async () => {
    const c = fresh();
    const txs = Array.from({ length: 12 }, (_, i) => tx(M0 + 60 * i, [["A", 1]]));
    await runAll(redis, addressesCalls(c, txs, M0 + 12 * 60));
    expect((await scores(addrReceivedKey(c))).A).toBe(12);
    // Twelve minutes expire at once; one bounded call takes 5 and says 7 are waiting.
    const now = M0 + 12 * 60 + WINDOW_SECONDS;
    const first = await run(redis, advanceAddressWindow(c, now, 5));
    expect(first).toEqual({ windowStart: windowStart(now), subtracted: 5, waiting: 7 });
    // An apply call on the way subtracts 5 more before adding.
    const fresher = tx(now, [["A", 1000]]);
    await run(redis, applyAddresses(c, now, addressBatch([addressEffect(fresher)]), 5));
    expect((await scores(addrReceivedKey(c))).A).toBe(2 + 1000);
    await advanceWindow(redis, c, now);
    expect(await scores(addrReceivedKey(c))).toEqual({ A: 1000 });
  });

  test("sums of duplicates inside a batch are taken back out before adding", async () => {
    const c = fresh();
    const t1 = tx(M0, [["A", 10], ["B", 1]], [["S", 11]]);
    const t2 = tx(M0 + 1, [["A", 5]], [["S", 6]]);
    await runAll(redis, addressesCalls(c, [t1], M0 + 2));
    // One call with t1 again (a duplicate), t2 and t2 again: only t2 counts, once.
    const result = await run(redis, applyAddresses(c, M0 + 2, addressBatch([t1, t2, t2].map(addressEffect))));
    expect(result).toMatchObject({ applied: 1, duplicates: 2, stale: 0 });
    expect(await scores(addrReceivedKey(c))).toEqual({ A: 15, B: 1 });
    expect(await scores(addrSentKey(c))).toEqual({ S: 17 });
  });

  test("malformed arguments come back as a coded error", async () => {
    const c = fresh();
    const call = applyAddresses(c, M0, addressBatch([addressEffect(tx(M0, [["A", 1]]))]));
    await expect(run(redis, { ...call, args: call.args.slice(0, -1) })).rejects.toThrow(new ScriptError("applyAddresses", -1));
    expect(await redis.exists(addrReceivedKey(c))).toBe(0);
  });
});

describe("applyTransactions-3 / trimTransactions-2 / findTransaction-3", () => {
  test("stores each transaction once, compactly, readable by hash and newest first", async () => {
    const c = fresh();
    const now = M0 + 200;
    const a = tx(M0 + 10, [["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 1000], [null, 0]], [["1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 1500], ["weird-address", null]]);
    const b = tx(M0 + 70, [["3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 5]], [["A", 7]]);
    const d = tx(M0 + 69, [["A", 1]]);
    const r = sumResults(await runAll(redis, transactionsCalls(c, [a, b, d, b], now)));
    expect(r).toEqual({ applied: 3, duplicates: 1, stale: 0 });
    expect(sumResults(await runAll(redis, transactionsCalls(c, [a], now)))).toEqual({ applied: 0, duplicates: 1, stale: 0 });
    const served = ({ v, received_at, ...rest }: Transaction) => rest;
    expect(await transactionByHash(redis, c, a.hash)).toEqual(served(a));
    expect(await transactionByHash(redis, c, b.hash.toUpperCase())).toEqual(served(b));
    expect(await transactionByHash(redis, c, hex(-1))).toBeNull();
    expect(await latestTransactions(redis, c, 2)).toEqual([served(b), served(d)]);
    expect((await latestTransactions(redis, c, 10)).map((t) => t.hash)).toEqual([b.hash, d.hash, a.hash]);
    expect(await storedTransactionCount(redis, c)).toBe(3);
    expect(await redis.hgetall(txMinutesKey(c))).toEqual({ [String(M0)]: "1", [String(M0 + 60)]: "2" });
    // The body is the compact encoding, and it round-trips.
    const [body] = await redis.lrangeBuffer(txListKey(c, M0), 0, -1);
    expect(body?.length).toBeLessThan(150);
    expect(decodeBody(body as Buffer)).toEqual(served(a));
    expect(encodeBody(a).equals(body as Buffer)).toBe(true);
    // The dedupe set is the index by hash.
    expect(await redis.sismember(seenKey(c, "transactions", M0, seenBucket(a.hash)), fingerprint(a.hash))).toBe(1);
  });

  test("keeps exactly the window: a minute goes when it leaves it, on write and on the timer", async () => {
    const c = fresh();
    const early = tx(M0 + 30, [["A", 1]]);
    const later = tx(M0 + 90, [["A", 1]]);
    await runAll(redis, transactionsCalls(c, [early, later], M0 + 100));
    expect(await run(redis, trimTransactions(c, M0 + 179 * 60 + 59))).toEqual({ removedByWindow: 0, removedByCap: 0, stored: 2 });
    expect(await run(redis, trimTransactions(c, M0 + 180 * 60))).toEqual({ removedByWindow: 1, removedByCap: 0, stored: 1 });
    expect(await redis.exists(txListKey(c, M0))).toBe(0);
    expect(await transactionByHash(redis, c, early.hash)).toBeNull();
    // On write: a later batch drops the next minute as the window passes it; stale ones are refused.
    const now = M0 + 181 * 60;
    const r = (await runAll(redis, transactionsCalls(c, [tx(now, [["B", 1]]), tx(M0 + 119, [["C", 1]])], now)))[0];
    expect(r).toMatchObject({ applied: 1, stale: 1, removedByWindow: 1, stored: 1 });
    // latestTransactions with a time hides minutes already out, before any trim.
    expect(await latestTransactions(redis, c, 10, (now + WINDOW_SECONDS) * 1000)).toEqual([]);
  });

  test("never stores more than the cap: oldest minutes go first, then the oldest of the minute cut into", async () => {
    const c = fresh({ TX_CAP: 5 });
    const now = M0 + 600;
    const m0 = [15, 3, 40].map((s) => tx(M0 + s, [["A", s]]));
    const m1 = [20, 5, 50, 33].map((s) => tx(M0 + 60 + s, [["A", s]]));
    const r1 = await runAll(redis, transactionsCalls(c, m0, now));
    expect(r1[0]).toMatchObject({ applied: 3, removedByCap: 0, stored: 3 });
    const r2 = await runAll(redis, transactionsCalls(c, m1, now));
    expect(r2[0]).toMatchObject({ applied: 4, removedByCap: 2, stored: 5 });
    // Minute M0 kept its newest one (M0+40); minute M0+1 is whole.
    const kept = (await latestTransactions(redis, c, 100)).map((t) => t.time - M0);
    expect(kept).toEqual([110, 93, 80, 65, 40]);
    expect(await storedTransactionCount(redis, c)).toBe(5);
    // A lower cap on the timer: the whole oldest minute goes, then the oldest of the next.
    const c3 = { ...c, TX_CAP: 3 };
    expect(await run(redis, trimTransactions(c3, now))).toEqual({ removedByWindow: 0, removedByCap: 2, stored: 3 });
    expect((await latestTransactions(redis, c, 100)).map((t) => t.time - M0)).toEqual([110, 93, 80]);
    // What the cap dropped is still remembered: delivered again, it is a duplicate, not stored anew.
    expect(sumResults(await runAll(redis, transactionsCalls(c3, m0, now)))).toEqual({ applied: 0, duplicates: 3, stale: 0 });
    expect(await transactionByHash(redis, c, (m0[1] as Transaction).hash)).toBeNull();
  });
});
