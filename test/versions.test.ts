/**
 * Every script call that writes a projection's figures or its progress sets the projection's
 * version in the same atomic call (lua/includes/bumpVersion.lua, src/redis/keys.ts versionKey),
 * and a call that writes nothing leaves it alone: the API re-reads an answer only when the version
 * moved (issue 19, item 1). For every projection of the registry, and every shard of a sharded
 * one (two shards here), on the real Redis: its apply, its drop, its upkeep, the replay's start
 * and the coverage the consumers advance. The version is Redis's time in unix µs, as a plain
 * integer, and only grows.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { ConsumerProjection } from "../src/consumers/group.ts";
import type { Config } from "../src/domain/config.ts";
import { shardsOf } from "../src/domain/projection.ts";
import type { Shard } from "../src/domain/shards.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { advanceCoverage, type CoverageUpdate } from "../src/redis/coverage.ts";
import { groupKeyPattern, positionField, replayKey, versionKey } from "../src/redis/keys.ts";
import { run, type ScriptCall, type Stretch, startReplay } from "../src/redis/scripts.ts";
import { testEnv } from "./helpers/env.ts";

const { redis, config } = testEnv();

/** A namespace of its own per test, under the file's prefix (dropNamespace deletes `{<prefix>:...` too, the shards' tags included). */
let ns = 0;
const fresh = (): Config => ({ ...config, REDIS_PREFIX: `${config.REDIS_PREFIX}:${++ns}`, ADDRESS_SHARDS: 2 });

let serial = 0;
const hex = (n: number) => createHash("sha256").update(`versions-${n}`).digest("hex");
/** A transaction no projection refuses (its inputs are worth more than its outputs). */
function tx(time: number, value = 1_000): Transaction {
  return {
    v: SCHEMA_VERSION,
    hash: hex(++serial),
    time,
    size: 250,
    weight: 1_000,
    inputs: [{ address: `S${serial}`, value: value + 500 }],
    outputs: [{ address: `A${serial}`, value }],
    value,
    fee: 500,
    received_at: time * 1000,
  };
}

/** Redis's clock, unix µs. */
async function redisUs(): Promise<number> {
  const [sec, usec] = await redis.time();
  return Number(sec) * 1_000_000 + Number(usec);
}
const redisSec = async () => Math.floor((await redisUs()) / 1_000_000);

/** The version of one shard of a projection, as stored: null when it has none. */
const versionOf = (c: Config, p: ConsumerProjection, shard: Shard) => redis.get(versionKey(c, p, shard));
/** Every shard's version of every projection: to show that a call moved only its own. */
async function allVersions(c: Config): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const p of PROJECTIONS) for (const shard of shardsOf(p, c)) out[versionKey(c, p, shard)] = await versionOf(c, p, shard);
  return out;
}
/** Runs `call` and expects it to move exactly the version of `p`'s `shard`, to a greater one, and no other; returns its reply. */
async function moves<T>(c: Config, p: ConsumerProjection, shard: Shard, call: ScriptCall<T>): Promise<T> {
  const before = await allVersions(c);
  const reply = await run(redis, call);
  const after = await allVersions(c);
  const key = versionKey(c, p, shard);
  expect({ key, moved: Number(after[key]) > Number(before[key] ?? 0) }).toEqual({ key, moved: true });
  expect({ ...after, [key]: "" }).toEqual({ ...before, [key]: "" });
  return reply;
}
/** Runs `call` and expects it to leave every version as it was; returns its reply. */
async function stays<T>(c: Config, call: ScriptCall<T>): Promise<T> {
  const before = await allVersions(c);
  const reply = await run(redis, call);
  expect(await allVersions(c)).toEqual(before);
  return reply;
}

/** The apply call of `p`'s `shard` for `txs` (its own record mapping), over `stretch`; `at` pins "now" (unix s). */
const applyCall = (p: ConsumerProjection, c: Config, shard: Shard, txs: Transaction[], stretch: Stretch, at?: number) =>
  p.apply.call(
    c,
    stretch,
    txs.map((t) => p.apply.record(t, shard)),
    shard,
    at,
  );
const FIELD = positionField("topic", 0);
const stretch = (from: number, to: number, field = FIELD): Stretch => ({ field, from: String(from), to: String(to) });

/** Every key of a shard of a projection but its version, with its contents: what a call wrote of the figures and the progress. */
async function figures(c: Config, p: ConsumerProjection, shard: Shard): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", groupKeyPattern(c, p, shard), "COUNT", 1000);
    for (const key of keys) {
      if (key === versionKey(c, p, shard)) continue;
      const type = await redis.type(key);
      if (type === "string") out[key] = await redis.get(key);
      else if (type === "hash") out[key] = await redis.hgetall(key);
      else if (type === "zset") out[key] = await redis.zrange(key, 0, -1, "WITHSCORES");
      else if (type === "stream") out[key] = await redis.xrange(key, "-", "+");
      else out[key] = type;
    }
    cursor = next;
  } while (cursor !== "0");
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Every projection of the registry, with each of its shards (two for a sharded one). */
const cases = PROJECTIONS.flatMap((p) =>
  shardsOf(p, { ADDRESS_SHARDS: 2 }).map((shard) => ({ p, shard, name: `${p.role}${shard.of > 1 ? ` shard ${shard.index + 1} of ${shard.of}` : ""}` })),
);

describe("the version: Redis's time in µs, a plain integer that only grows", () => {
  for (const { p, shard, name } of cases) {
    test(`${name}: set from TIME even when "now" is pinned, as digits only; one greater than the stored one when that is not below TIME; greater again after the key was lost`, async () => {
      const c = fresh();
      const before = await redisUs();
      await moves(c, p, shard, startReplay(c, p, FIELD, "0", "100", "", shard));
      const after = await redisUs();
      const text = (await versionOf(c, p, shard)) as string;
      expect(text).toMatch(/^[1-9]\d{15}$/);
      expect(Number(text)).toBeGreaterThanOrEqual(before);
      expect(Number(text)).toBeLessThanOrEqual(after);

      // A call that pins "now" years back still sets Redis's time.
      const pinned = 1_700_000_000;
      const b2 = await redisUs();
      expect(await moves(c, p, shard, applyCall(p, c, shard, [tx(pinned - 30)], stretch(0, 1), pinned))).toMatchObject({ status: "applied" });
      const a2 = await redisUs();
      expect(Number(await versionOf(c, p, shard))).toBeGreaterThanOrEqual(Math.max(b2, Number(text) + 1));
      expect(Number(await versionOf(c, p, shard))).toBeLessThanOrEqual(a2);

      // Stored ahead of Redis's clock (the clock stepped back, or calls within one µs): one more each call, written in full.
      const ahead = (await redisUs()) + 3_600_000_000;
      await redis.set(versionKey(c, p, shard), String(ahead));
      await moves(c, p, shard, applyCall(p, c, shard, [tx(pinned - 20)], stretch(1, 2), pinned));
      expect(await versionOf(c, p, shard)).toBe(String(ahead + 1));
      await moves(c, p, shard, applyCall(p, c, shard, [], stretch(2, 3), pinned));
      expect(await versionOf(c, p, shard)).toBe(String(ahead + 2));

      // The key lost (FLUSHALL, a restart without persistence): the next write sets a time again, greater than any
      // before (from a version of Redis's clock: one ahead of it cannot be followed once lost).
      await redis.set(versionKey(c, p, shard), text);
      await moves(c, p, shard, applyCall(p, c, shard, [tx(pinned - 10)], stretch(3, 4), pinned));
      const last = Number(await versionOf(c, p, shard));
      await redis.del(versionKey(c, p, shard));
      await moves(c, p, shard, applyCall(p, c, shard, [tx(pinned - 5)], stretch(4, 5), pinned));
      expect(Number(await versionOf(c, p, shard))).toBeGreaterThan(last);
    });
  }
});

describe("apply: every applied call moves the version; a refused one does not", () => {
  for (const { p, shard, name } of cases) {
    test(`${name}: applied (new records, duplicates only, an empty stretch) moves it; moved, unset, an error and wrong_type leave it`, async () => {
      const c = fresh();
      const now = await redisSec();
      const a = tx(now - 30);
      const b = tx(now - 90);
      // No position: refused ("unset"), nothing written.
      expect(await stays(c, applyCall(p, c, shard, [a], stretch(0, 1)))).toEqual({ status: "unset" });
      expect(await versionOf(c, p, shard)).toBeNull();
      await moves(c, p, shard, startReplay(c, p, FIELD, "0", "10", "", shard));

      expect(await moves(c, p, shard, applyCall(p, c, shard, [a, b], stretch(0, 2)))).toMatchObject({ status: "applied", applied: 2 });
      // A redelivery at the wrong position: "moved", nothing written.
      expect(await stays(c, applyCall(p, c, shard, [a], stretch(0, 2)))).toEqual({ status: "moved", position: "2" });
      expect(await stays(c, applyCall(p, c, shard, [a], stretch(5, 6)))).toEqual({ status: "moved", position: "2" });
      // Another partition without a position.
      expect(await stays(c, applyCall(p, c, shard, [a], stretch(0, 1, positionField("topic", 1))))).toEqual({ status: "unset" });
      // A malformed call (now is not a number): an error, nothing written.
      const call = applyCall(p, c, shard, [tx(now - 10)], stretch(2, 3));
      const untouched = await allVersions(c);
      await expect(run(redis, { ...call, args: ["not a time", ...call.args.slice(1)] })).rejects.toThrow(/not a number/);
      expect(await allVersions(c)).toEqual(untouched);
      // Duplicates only, and a stretch of dead letters only: the position moves, so does the version.
      expect(await moves(c, p, shard, applyCall(p, c, shard, [a, b], stretch(2, 4)))).toMatchObject({ status: "applied", applied: 0, duplicates: 2 });
      expect(await moves(c, p, shard, applyCall(p, c, shard, [], stretch(4, 7)))).toMatchObject({ status: "applied", applied: 0 });

      // A version key of another type (written by hand) refuses the call before anything is written, naming it.
      await redis.del(versionKey(c, p, shard));
      await redis.hset(versionKey(c, p, shard), "written", "by hand");
      const planted = await figures(c, p, shard);
      expect(await run(redis, applyCall(p, c, shard, [tx(now - 5)], stretch(7, 8)))).toEqual({ status: "wrong_type", key: versionKey(c, p, shard) });
      expect(await figures(c, p, shard)).toEqual(planted);
      await redis.del(versionKey(c, p, shard));
      expect(await moves(c, p, shard, applyCall(p, c, shard, [tx(now - 5)], stretch(7, 8)))).toMatchObject({ status: "applied", applied: 1 });
    });
  }
});

describe("drop: a drop that deleted anything leaves a greater version; dropping an empty projection leaves it", () => {
  for (const { p, shard, name } of cases) {
    test(`${name}: its drop moves its version and no other; a drop with nothing to delete leaves it; a version key of another type is set again`, async () => {
      const c = fresh();
      const now = await redisSec();
      for (const { p: other, shard: s } of cases) {
        await run(redis, startReplay(c, other, FIELD, "0", "3", "", s));
        await run(redis, applyCall(other, c, s, [tx(now - 30), tx(now - 100)], stretch(0, 2)));
      }
      const others = await allVersions(c);
      // A drop of several calls (the transactions' bodies are deleted apart): every one of them moves it.
      const seen = [Number(await versionOf(c, p, shard))];
      const between = async () => void seen.push(Number(await versionOf(c, p, shard)));
      expect(await p.drop(redis, c, shard, between)).toBeGreaterThan(0);
      await between();
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] as number);
      const after = await allVersions(c);
      expect({ ...after, [versionKey(c, p, shard)]: "" }).toEqual({ ...others, [versionKey(c, p, shard)]: "" });
      // Nothing left to drop: nothing deleted, the version stays.
      expect(await p.drop(redis, c, shard)).toBe(0);
      expect(await allVersions(c)).toEqual(after);

      // A version key of another type does not stop a drop: it is set again as a version.
      await run(redis, startReplay(c, p, FIELD, "0", "3", "", shard));
      await redis.del(versionKey(c, p, shard));
      await redis.hset(versionKey(c, p, shard), "written", "by hand");
      expect(await p.drop(redis, c, shard)).toBeGreaterThan(0);
      expect(await versionOf(c, p, shard)).toMatch(/^[1-9]\d{15}$/);
    });
  }
});

describe("upkeep: a run that wrote moves the version; one that found nothing to do leaves it", () => {
  for (const { p, shard, name } of cases) {
    const upkeep = p.upkeep;
    if (!upkeep) continue;
    test(`${name}: its upkeep moves its version exactly when it changes what the projection holds`, async () => {
      const c = fresh();
      // Applied at a time long past, on Redis's clock all of it has left the window.
      const pinned = 1_700_000_000;
      await run(redis, startReplay(c, p, FIELD, "0", "3", "", shard));
      expect(await run(redis, applyCall(p, c, shard, [tx(pinned - 30), tx(pinned - 100)], stretch(0, 2), pinned))).toMatchObject({ status: "applied", applied: 2 });
      const held = await figures(c, p, shard);
      const before = await allVersions(c);
      await upkeep.run(redis, c, shard);
      // Not vacuous: it wrote, and the version moved, its shard's only.
      expect(await figures(c, p, shard)).not.toEqual(held);
      const after = await allVersions(c);
      expect(Number(after[versionKey(c, p, shard)])).toBeGreaterThan(Number(before[versionKey(c, p, shard)]));
      expect({ ...after, [versionKey(c, p, shard)]: "" }).toEqual({ ...before, [versionKey(c, p, shard)]: "" });
      // Again: nothing left to do, nothing written, the version stays (a run that a new minute gave work
      // to moves it, and the next one finds nothing again).
      let idle = false;
      for (let i = 0; i < 3 && !idle; i++) {
        const held = await figures(c, p, shard);
        const versions = await allVersions(c);
        await upkeep.run(redis, c, shard);
        idle = JSON.stringify(await figures(c, p, shard)) === JSON.stringify(held);
        const moved = Number((await allVersions(c))[versionKey(c, p, shard)]) > Number(versions[versionKey(c, p, shard)]);
        expect({ wrote: !idle, moved }).toEqual({ wrote: !idle, moved: !idle });
      }
      expect(idle).toBe(true);
    });
  }
});

describe("the replay's start and the coverage: a call that wrote moves the version; one that returned 0 or changed nothing leaves it", () => {
  for (const { p, shard, name } of cases) {
    test(`${name}: startReplay moves it when it starts, not when it answers "moved"; advanceCoverage when it changes anything, not when it returns 0 or writes the same again`, async () => {
      const c = fresh();
      // Coverage of a partition without a position: 0, nothing written, no version.
      const cover = (u: CoverageUpdate): ScriptCall<boolean> => advanceCoverage(c, p, shard, FIELD, u);
      expect(await stays(c, cover({ expected: "0", throughMs: 1_000 }))).toBe(false);
      expect(await versionOf(c, p, shard)).toBeNull();

      expect(await moves(c, p, shard, startReplay(c, p, FIELD, "0", "10", "", shard))).toBe("0");
      // Another process comes second: its start does not stand, nothing written.
      expect(await stays(c, startReplay(c, p, FIELD, "4", "12", 5, shard))).toBe("0");

      // Each figure: changed, the version moves; the same again (or a through that does not grow), it stays.
      const changes: CoverageUpdate[] = [
        { expected: "0", throughMs: 2_000 },
        { expected: "0", coversFromMs: 1_500 },
        { expected: "0", gap: { fromMs: 100, toMs: 200 } },
        { expected: "0", gap: { fromMs: 100, toMs: 300 } },
        { expected: "0", marker: { offset: 0, stampMs: 1_900, key: "k" } },
      ];
      for (const u of changes) {
        expect(await moves(c, p, shard, cover(u))).toBe(true);
        expect(await stays(c, cover(u))).toBe(true);
      }
      expect(await stays(c, cover({ expected: "0", throughMs: 1_000 }))).toBe(true);
      expect(await stays(c, cover({ expected: "0", coversFromMs: 1_000 }))).toBe(true); // set once per replay
      expect(await stays(c, cover({ expected: "0", clearError: true }))).toBe(true); // no error to clear
      expect(await stays(c, cover({ expected: "0", forgetGapsBeforeMs: 250 }))).toBe(true); // the gap ends at 300
      expect(await moves(c, p, shard, cover({ expected: "0", forgetGapsBeforeMs: 350 }))).toBe(true);
      await redis.hset(replayKey(c, p, shard), `${FIELD}:error`, "a key of the wrong type");
      expect(await moves(c, p, shard, cover({ expected: "0", clearError: true }))).toBe(true);
      // Past records the log lost: the position moves.
      expect(await moves(c, p, shard, cover({ expected: "0", newPosition: "4" }))).toBe(true);
      // The consumer expects another position than Redis's: 0, nothing written, whatever it says.
      expect(await stays(c, cover({ expected: "0", throughMs: 9_000, marker: { offset: 3, stampMs: 9, key: "" }, newPosition: "8" }))).toBe(false);
    });
  }
});
