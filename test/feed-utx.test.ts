/**
 * Normalization of the feed's `utx` messages (src/feed/utx.ts) on recorded-shaped fixtures,
 * and the reason given for each kind of bad input.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkTransaction, MAX_TX_WEIGHT, SCHEMA_VERSION, type Transaction, vsize } from "../src/domain/transaction.ts";
import { MAX_FUTURE_SECONDS, readFeedMessage } from "../src/feed/utx.ts";

const lines = readFileSync(join(import.meta.dir, "fixtures", "utx-sample.jsonl"), "utf8")
  .trim()
  .split("\n");
const NOW = Date.UTC(2025, 0, 1, 13, 0, 0); // an hour after the fixture's transactions

// biome-ignore lint/suspicious/noExplicitAny: a fixture line, broken field by field by the cases below
const raw = (i: number): any => JSON.parse(lines[i] as string);

function tx(text: string, now = NOW): Transaction {
  const message = readFeedMessage(text, now);
  if (message.kind !== "tx") throw new Error(`expected a transaction, got ${JSON.stringify(message)}`);
  return message.tx;
}

function reason(text: string): string {
  const message = readFeedMessage(text, NOW);
  if (message.kind !== "invalid") throw new Error(`expected invalid, got ${message.kind}`);
  return message.reason;
}

describe("valid utx messages", () => {
  test("every fixture line becomes a Transaction with the same hash, time, inputs and outputs", () => {
    expect(lines.length).toBeGreaterThanOrEqual(30);
    for (let i = 0; i < lines.length; i++) {
      const t = tx(lines[i] as string);
      const x = raw(i).x;
      expect(checkTransaction(t)).toEqual({ ok: true, tx: t });
      expect(t.hash).toBe(x.hash);
      expect(t.time).toBe(x.time);
      expect(t.size).toBe(x.size);
      expect(t.v).toBe(SCHEMA_VERSION);
      expect(t.weight).toBeNull(); // the recorded frames are older ones, without weight
      expect(t.received_at).toBe(NOW);
      expect(t.outputs).toEqual(x.out.map((o: { addr?: string | null; value: number }) => ({ address: o.addr ?? null, value: o.value })));
      expect(t.inputs.length).toBe(x.inputs.length);
      const outSum = x.out.reduce((a: number, o: { value: number }) => a + o.value, 0);
      expect(t.value).toBe(outSum);
    }
  });

  test("fee is inputs minus outputs", () => {
    const x = raw(0).x;
    const inSum = x.inputs.reduce((a: number, i: { prev_out: { value: number } }) => a + i.prev_out.value, 0);
    const t = tx(lines[0] as string);
    expect(t.fee).toBe(inSum - t.value);
    expect(t.fee).toBeGreaterThan(0);
  });

  test("an output without addr (OP_RETURN) or with addr null has address null", () => {
    const opReturn = lines.findIndex((_, n) => raw(n).x.out.some((o: object) => !("addr" in o)));
    expect(opReturn).toBeGreaterThanOrEqual(0);
    const t = tx(lines[opReturn] as string);
    expect(t.outputs.some((o) => o.address === null && o.value === 0)).toBe(true);

    const explicitNull = lines.findIndex((l) => l.includes('"addr":null'));
    expect(explicitNull).toBeGreaterThanOrEqual(0);
    expect(tx(lines[explicitNull] as string).outputs.some((o) => o.address === null)).toBe(true);
  });

  test("values above 2^31 satoshi are kept exactly", () => {
    const big = lines.map((l) => tx(l)).filter((t) => t.outputs.some((o) => o.value > 2 ** 31));
    expect(big.length).toBeGreaterThanOrEqual(2);
    expect(big.some((t) => t.outputs.some((o) => o.value === 4_000_000_000))).toBe(true);
    expect(big.some((t) => t.outputs.some((o) => o.value === 250_000_000_000))).toBe(true);
  });

  test("unknown extra fields are tolerated and not carried over", () => {
    const i = lines.findIndex((l) => l.includes('"rbf":true'));
    expect(i).toBeGreaterThanOrEqual(0);
    const t = tx(lines[i] as string);
    expect(Object.keys(t).sort()).toEqual(["fee", "hash", "inputs", "outputs", "received_at", "size", "time", "v", "value", "weight"]);
    expect(Object.keys(t.outputs[0] ?? {}).sort()).toEqual(["address", "value"]);
  });

  test("a frame's weight is kept in the record; a frame without one gives weight null", () => {
    const m = raw(0);
    m.x.weight = 561;
    const t = tx(JSON.stringify(m));
    expect(t.weight).toBe(561);
    expect(vsize(t)).toBe(141); // ceil(561 / 4)
    expect(checkTransaction(t)).toEqual({ ok: true, tx: t });
    expect(Object.keys(t)).toEqual(["v", "hash", "time", "size", "weight", "inputs", "outputs", "value", "fee", "received_at"]);
    m.x.weight = MAX_TX_WEIGHT;
    expect(tx(JSON.stringify(m)).weight).toBe(MAX_TX_WEIGHT);
    m.x.weight = 0;
    expect(tx(JSON.stringify(m)).weight).toBe(0);

    delete m.x.weight;
    const without = tx(JSON.stringify(m));
    expect(without.weight).toBeNull();
    expect(vsize(without)).toBe(m.x.size);
    expect(checkTransaction(without)).toEqual({ ok: true, tx: without });
  });

  test("an input without a value makes the fee unknown (null), not wrong", () => {
    const i = lines.findIndex((_, n) => raw(n).x.inputs.some((inp: { prev_out: object }) => !("value" in inp.prev_out)));
    expect(i).toBeGreaterThanOrEqual(0);
    const t = tx(lines[i] as string);
    expect(t.fee).toBeNull();
    expect(t.inputs.some((inp) => inp.value === null)).toBe(true);
  });

  test(`a time more than ${MAX_FUTURE_SECONDS} s in the future is replaced by the arrival time`, () => {
    const m = raw(0);
    const nowSeconds = Math.floor(NOW / 1000);
    m.x.time = nowSeconds + MAX_FUTURE_SECONDS + 1;
    expect(tx(JSON.stringify(m)).time).toBe(nowSeconds);
    m.x.time = nowSeconds + MAX_FUTURE_SECONDS;
    expect(tx(JSON.stringify(m)).time).toBe(nowSeconds + MAX_FUTURE_SECONDS);
  });

  test("a binary frame reads like a text frame", () => {
    const line = lines[0] as string;
    expect(readFeedMessage(Buffer.from(line), NOW)).toEqual(readFeedMessage(line, NOW));
  });
});

describe("other ops", () => {
  test("pong and unknown ops are control messages, not errors", () => {
    expect(readFeedMessage('{"op":"pong"}', NOW)).toEqual({ kind: "control", op: "pong" });
    expect(readFeedMessage('{"op":"status","msg":"ok"}', NOW)).toEqual({ kind: "control", op: "status" });
  });
});

describe("invalid messages name what is wrong", () => {
  const broken = (edit: (x: Record<string, unknown> & { out: { value: unknown }[]; inputs: { prev_out: { value: unknown } }[] }) => void) => {
    const m = raw(0);
    edit(m.x);
    return JSON.stringify(m);
  };

  const cases: [string, () => string, RegExp][] = [
    ["not JSON", () => (lines[0] as string).slice(0, 100), /not JSON/],
    ["JSON without an op", () => "[1,2]", /string op/],
    ["missing hash", () => broken((x) => delete x.hash), /^\/x\/hash: Expected required property/],
    ["hash not 64 lowercase hex", () => broken((x) => (x.hash = "ABC")), /^\/x\/hash: Expected string to match/],
    ["missing time", () => broken((x) => delete x.time), /^\/x\/time: Expected required property/],
    ["time as a string", () => broken((x) => (x.time = "1735732800")), /^\/x\/time: Expected integer/],
    ["negative value", () => broken((x) => ((x.out[0] as { value: unknown }).value = -1)), /^\/x\/out\/0\/value: Expected integer to be greater or equal to 0/],
    ["fractional value", () => broken((x) => ((x.out[0] as { value: unknown }).value = 1.5)), /^\/x\/out\/0\/value: Expected integer/],
    ["value as a string", () => broken((x) => ((x.out[0] as { value: unknown }).value = "100")), /^\/x\/out\/0\/value: Expected integer/],
    [
      "value above 21 million BTC",
      () => broken((x) => ((x.out[0] as { value: unknown }).value = 2_100_000_000_000_001)),
      /^\/x\/out\/0\/value: Expected integer to be less or equal to 2100000000000000/,
    ],
    ["negative input value", () => broken((x) => ((x.inputs[0] as { prev_out: { value: unknown } }).prev_out.value = -5)), /^\/x\/inputs\/0\/prev_out\/value: Expected integer/],
    ["absurd size", () => broken((x) => (x.size = 1e9)), /^\/x\/size: Expected integer to be less or equal to 4000000/],
    ["weight above the block limit", () => broken((x) => (x.weight = MAX_TX_WEIGHT + 1)), /^\/x\/weight: Expected integer to be less or equal to 4000000/],
    ["negative weight", () => broken((x) => (x.weight = -4)), /^\/x\/weight: Expected integer to be greater or equal to 0/],
    ["fractional weight", () => broken((x) => (x.weight = 561.5)), /^\/x\/weight: Expected integer/],
    ["weight as a string", () => broken((x) => (x.weight = "561")), /^\/x\/weight: Expected integer/],
    ["no outputs", () => broken((x) => (x.out = [])), /^\/x\/out: Expected array length to be greater or equal to 1/],
    [
      "outputs adding up to more than 21 million BTC",
      () => broken((x) => (x.out = [{ value: 2_000_000_000_000_000 }, { value: 2_000_000_000_000_000 }])),
      /^\/x\/out: outputs add up to more than 21 million BTC/,
    ],
    ["inputs below outputs (a negative fee)", () => broken((x) => x.inputs.forEach((i) => (i.prev_out.value = 0))), /^\/x\/inputs: inputs \(\d+\) add up to less than the outputs/],
  ];
  test.each(cases)("%s", (_, frame, expected) => {
    expect(reason(frame())).toMatch(expected);
  });
});
