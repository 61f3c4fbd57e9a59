/**
 * The record's layout across versions (src/domain/transaction.ts) and how a consumer reads a
 * record value (src/consumers/decode.ts): version 2 carries `weight` (an integer or null), a
 * version-1 record already in a log (no `weight`) is still read, any other version is a dead
 * letter; `vsize` from the weight, or the size when the weight is unknown.
 */
import { describe, expect, test } from "bun:test";
import { decodeRecord } from "../src/consumers/decode.ts";
import { checkTransaction, MAX_TX_WEIGHT, READ_VERSIONS, SCHEMA_VERSION, type Transaction, toView, vsize } from "../src/domain/transaction.ts";

const NOW_SEC = 1_735_736_400;

/** A version-2 record, as the producer writes it now. */
const v2: Transaction = {
  v: 2,
  hash: "ab".repeat(32),
  time: NOW_SEC - 60,
  size: 222,
  weight: 561,
  inputs: [{ address: "bc1qwn96dr8hmmxhcdvxkfgpwhr2vmlqa88lzdqasx", value: 20_000 }],
  outputs: [
    { address: "36WxY7pr7cf2FPASbnjmwwMJ9e9Ng2rgTm", value: 15_000 },
    { address: null, value: 0 },
  ],
  value: 15_000,
  fee: 5_000,
  received_at: (NOW_SEC - 59) * 1000,
};

/** The same transaction as a producer wrote it before version 2: no `weight`. */
const { weight: _weight, ...v1Fields } = v2;
const v1 = { ...v1Fields, v: 1 };

const record = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("versions", () => {
  test("the producer writes version 2; consumers read versions 1 and 2", () => {
    expect(SCHEMA_VERSION).toBe(2);
    expect([...READ_VERSIONS]).toEqual([1, 2]);
  });

  test("a version-2 record carries its weight, an integer or null", () => {
    expect(checkTransaction(v2)).toEqual({ ok: true, tx: v2 });
    const unknown = { ...v2, weight: null };
    expect(checkTransaction(unknown)).toEqual({ ok: true, tx: unknown });
    expect(checkTransaction({ ...v2, weight: MAX_TX_WEIGHT }).ok).toBe(true);
  });

  test("a version-2 record without weight, or with one out of bounds, is refused naming the field", () => {
    const { weight: _w, ...noWeight } = v2;
    expect(checkTransaction(noWeight)).toEqual({ ok: false, reason: "/weight: Expected required property" });
    for (const weight of [-1, MAX_TX_WEIGHT + 1, 1.5, "561"]) {
      const checked = checkTransaction({ ...v2, weight });
      expect(checked.ok).toBe(false);
      if (!checked.ok) expect(checked.reason).toMatch(/^\/weight: /);
    }
  });

  test("a version-1 record (no weight) is read: its weight is unknown and vsize falls back to the size", () => {
    const checked = checkTransaction(v1);
    expect(checked).toEqual({ ok: true, tx: v1 as Transaction });
    if (!checked.ok) return;
    expect(checked.tx.weight).toBeUndefined();
    expect(vsize(checked.tx)).toBe(v1.size);
    // Its view is the same as the version-2 record's: the API body does not change with the version.
    expect(toView(checked.tx)).toEqual(toView(v2));
  });

  test("a version-1 record is the old layout exactly: a weight in it is refused", () => {
    expect(checkTransaction({ ...v1, weight: 561 })).toEqual({ ok: false, reason: "/weight: Unexpected property" });
  });
});

describe("a consumer decoding a record value", () => {
  test("reads version 2, with a weight or with null", () => {
    expect(decodeRecord(record(v2), NOW_SEC)).toEqual({ ok: true, tx: v2 });
    expect(decodeRecord(record({ ...v2, weight: null }), NOW_SEC)).toEqual({ ok: true, tx: { ...v2, weight: null } });
  });

  test("reads a version-1 record written before the bump: not a dead letter", () => {
    const decoded = decodeRecord(record(v1), NOW_SEC);
    expect(decoded).toEqual({ ok: true, tx: v1 as Transaction });
  });

  test("dead-letters any other version, saying which it reads", () => {
    for (const v of [0, 3, "2", null]) {
      expect(decodeRecord(record({ ...v2, v }), NOW_SEC)).toEqual({ ok: false, reason: `unknown schema version ${JSON.stringify(v)}: this consumer reads versions 1, 2` });
    }
  });

  test("dead-letters a version-2 record with a weight out of bounds, or a version-1 record with one", () => {
    const above = decodeRecord(record({ ...v2, weight: MAX_TX_WEIGHT + 1 }), NOW_SEC);
    expect(above.ok).toBe(false);
    if (!above.ok) expect(above.reason).toMatch(/^not a valid transaction: \/weight: /);
    expect(decodeRecord(record({ ...v1, weight: 561 }), NOW_SEC)).toEqual({ ok: false, reason: "not a valid transaction: /weight: Unexpected property" });
  });
});

describe("vsize", () => {
  test.each([
    [561, 222, 141], // ceil(561 / 4)
    [560, 222, 140], // exactly divisible
    [1, 1, 1],
    [0, 0, 0],
    [MAX_TX_WEIGHT, MAX_TX_WEIGHT, 1_000_000],
  ])("weight %p (size %p): %p vbytes", (weight, size, expected) => {
    expect(vsize({ size, weight })).toBe(expected);
  });

  test("the size in bytes when the weight is unknown (null, or absent from a version-1 record)", () => {
    expect(vsize({ size: 222, weight: null })).toBe(222);
    expect(vsize({ size: 222 })).toBe(222);
    expect(vsize({ ...v2, weight: null })).toBe(222);
  });
});
