/**
 * The catalogue of malformed frames for fault tests (`--malformed`): each kind a way to break a
 * synthetic transaction's frame that the producer must refuse and dead-letter (truncated, wrong
 * types, missing fields, random JSON, junk text, deep nesting, bytes that are not UTF-8, huge
 * arrays, ~1 MB frames, ...), drawn by weight.
 */
import { type Frame, nowSeconds } from "./frames.ts";
import type { Random } from "./random.ts";
import type { SyntheticFeed } from "./synthetic.ts";

type Message = ReturnType<SyntheticFeed["next"]>;
/** A message to break: the JSON of a synthetic transaction, as plain objects (mutated freely). */
type Loose = { op?: unknown; x?: Record<string, unknown> & { inputs: Record<string, unknown>[]; out: Record<string, unknown>[] } };

/** Broken variants of a valid message: each a kind of bad input the producer must dead-letter. */
interface Breaker {
  kind: string;
  /** Relative frequency; the heavy kinds (megabytes a frame) are rare so a fuzzing run stays light. */
  weight: number;
  make(m: Message, text: string, rng: Random): string | Uint8Array;
}

const pick = <T>(rng: Random, items: readonly T[]): T => items[rng.int(0, items.length - 1)] as T;
const loose = (m: Message) => m as unknown as Required<Loose>;

/** Characters random strings are drawn from: ASCII, JSON metacharacters, escapes, accents, CJK, emoji, NUL. */
const CHARS = ["a", "Z", "0", "9", " ", '"', "\\", "/", "{", "}", "[", "]", ":", ",", "\n", "\t", "\u0000", "\u007f", "é", "ß", "€", "中", "😀", "\u200b", "\ufeff"];
const KEYS = ["op", "x", "hash", "time", "size", "inputs", "out", "value", "addr", "prev_out", "__proto__", "constructor", "toString", "", "😀"];

function randomString(rng: Random, max: number): string {
  let s = "";
  for (let n = rng.int(0, max); n > 0; n--) s += pick(rng, CHARS);
  return s;
}

/** Any JSON value: numbers (huge, tiny, negative, fractional), strings, booleans, null, nested arrays and objects. */
function randomValue(rng: Random, depth: number): unknown {
  switch (rng.int(0, depth > 3 ? 3 : 5)) {
    case 0:
      return pick(rng, [0, -1, 1.5, -0.25, 1e308, -1e308, 5e-324, 2 ** 53 + 2, rng.int(-1e9, 1e9), rng.next()]);
    case 1:
      return randomString(rng, 12);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    case 4:
      return Array.from({ length: rng.int(0, 6) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      // defineProperty: `__proto__` becomes a key of the JSON, not the object's prototype.
      for (let n = rng.int(0, 6); n > 0; n--)
        Object.defineProperty(o, pick(rng, KEYS), { value: randomValue(rng, depth + 1), enumerable: true, writable: true, configurable: true });
      return o;
    }
  }
}

/** Random JSON; any object with an `op` says "utx", since another op is a control message (pong, ...), not bad input. */
function randomJson(rng: Random): string {
  const value = rng.chance(0.3) ? { op: "utx", x: randomValue(rng, 1) } : randomValue(rng, 0);
  if (value && typeof value === "object" && !Array.isArray(value) && typeof (value as Loose).op === "string") (value as Loose).op = "utx";
  return JSON.stringify(value);
}

/** A value of the wrong type for a field of type `type`. */
function wrongValue(rng: Random, type: "number" | "string" | "array" | "object" | "addr", actual: unknown): unknown {
  const candidates: Record<typeof type, unknown[]> = {
    number: [String(actual), `${actual}`.padStart(20, " "), [actual], { value: actual }, true, null, "", "NaN"],
    string: [Number.parseInt(String(actual).slice(0, 8), 16) || 7, [actual], { hash: actual }, true, null, ""],
    array: [{ 0: (actual as unknown[])[0] }, JSON.stringify(actual), (actual as unknown[])[0], 1, "[]", true, null],
    object: [[actual], JSON.stringify(actual), 0, "object", true, null],
    addr: [42, ["bc1q"], { addr: actual }, true, false], // null and "" are allowed: an output without an address
  };
  return pick(rng, candidates[type]);
}

/** Places with a type in a utx message: [path, type]. */
const TYPED: [string, "number" | "string" | "array" | "object" | "addr"][] = [
  ["op", "string"],
  ["x", "object"],
  ["x.hash", "string"],
  ["x.time", "number"],
  ["x.size", "number"],
  ["x.inputs", "array"],
  ["x.out", "array"],
  ["x.inputs.0", "object"],
  ["x.inputs.0.prev_out", "object"],
  ["x.inputs.0.prev_out.value", "number"],
  ["x.inputs.0.prev_out.addr", "addr"],
  ["x.out.0", "object"],
  ["x.out.0.value", "number"],
  ["x.out.0.addr", "addr"],
];

/** Required fields: [path to the parent, field]. */
const REQUIRED: [string, string][] = [
  ["", "op"],
  ["", "x"],
  ["x", "hash"],
  ["x", "time"],
  ["x", "size"],
  ["x", "inputs"],
  ["x", "out"],
  ["x.out.0", "value"],
];

function at(root: unknown, path: string): Record<string, unknown> {
  let node = root as Record<string, unknown>;
  for (const step of path ? path.split(".") : []) node = node[step] as Record<string, unknown>;
  return node;
}

/** Byte sequences that are not UTF-8: bytes never used, overlong forms, a surrogate, above U+10FFFF, lone and cut sequences. */
const NOT_UTF8 = [
  [0xff],
  [0xfe],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  [0xc3, 0x28],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
];

const utf8 = (s: string) => new TextEncoder().encode(s);
const join = (...parts: ArrayLike<number>[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};

/** About a megabyte. */
const MB = 1 << 20;

const BREAKERS: Breaker[] = [
  { kind: "truncated", weight: 10, make: (_, text) => text.slice(0, text.length >> 1) },
  { kind: "missing hash", weight: 10, make: (m) => JSON.stringify({ ...m, x: { ...m.x, hash: undefined } }) },
  { kind: "missing time", weight: 10, make: (m) => JSON.stringify({ ...m, x: { ...m.x, time: undefined } }) },
  { kind: "time as a string", weight: 10, make: (m) => JSON.stringify({ ...m, x: { ...m.x, time: String(m.x.time) } }) },
  { kind: "absurd size", weight: 10, make: (m) => JSON.stringify({ ...m, x: { ...m.x, size: 1e9 } }) },
  { kind: "negative values", weight: 10, make: (m) => JSON.stringify({ ...m, x: { ...m.x, out: m.x.out.map((o) => ({ ...o, value: -o.value })) } }) },
  { kind: "fractional values", weight: 10, make: (m) => JSON.stringify({ ...m, x: { ...m.x, out: m.x.out.map((o) => ({ ...o, value: o.value + 0.5 })) } }) },
  {
    kind: "above 21 million BTC",
    weight: 10,
    make: (m) => JSON.stringify({ ...m, x: { ...m.x, out: m.x.out.map((o) => ({ ...o, value: 2_200_000_000_000_000 })) } }),
  },
  { kind: "random JSON", weight: 10, make: (_m, _t, rng) => randomJson(rng) },
  {
    kind: "wrong types",
    weight: 10,
    make(m, _, rng) {
      const [path, type] = pick(rng, TYPED);
      const dot = path.lastIndexOf(".");
      const parent = at(m, path.slice(0, Math.max(dot, 0)));
      const field = path.slice(dot + 1);
      const wrong = wrongValue(rng, type, parent[field]);
      parent[field] = path === "op" && typeof wrong === "string" ? 7 : wrong; // a string op other than utx is a control message
      return JSON.stringify(m);
    },
  },
  {
    kind: "missing fields",
    weight: 10,
    make(m, _, rng) {
      if (rng.chance(0.2)) {
        loose(m).x[pick(rng, ["inputs", "out"])] = []; // at least one of each is required
      } else {
        const [parent, field] = pick(rng, REQUIRED);
        delete at(m, parent)[field];
      }
      return JSON.stringify(m);
    },
  },
  {
    kind: "junk text",
    weight: 10,
    make: (_, text, rng) =>
      pick(rng, [
        // Not "": Bun's ServerWebSocket.send answers 0 ("dropped") for an empty payload it did
        // send, so the simulator would not count it as delivered.
        "\u0000",
        " ",
        "\r\n",
        "undefined",
        "NaN",
        "{",
        "]",
        "<utx/>",
        "op=utx",
        text.replaceAll('"', "'"), // JavaScript, not JSON
        `${text.slice(0, -1)},}`, // trailing comma
        `\ufeff${text}`, // byte order mark
        `${text}${text}`, // two messages in one frame
        `${text} //`, // a comment after it
        `/*${randomString(rng, 8)}*/${text}`,
        JSON.stringify(text), // encoded twice: a JSON string
      ]),
  },
  {
    kind: "deep nesting",
    weight: 3,
    make(_, text, rng) {
      const depth = rng.int(1_000, 10_000);
      return rng.chance(0.5) ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `{"op":"utx","x":${'{"x":'.repeat(depth)}${text}${"}".repeat(depth)}}`;
    },
  },
  {
    kind: "invalid UTF-8",
    weight: 10,
    make(_m, text, rng) {
      const bad = pick(rng, NOT_UTF8);
      switch (rng.int(0, 2)) {
        case 0: {
          // Inside an address of an otherwise valid transaction: only a strict decoder notices.
          const i = text.indexOf('"addr":"') + 8;
          return join(utf8(text.slice(0, i)), bad, utf8(text.slice(i)));
        }
        case 1: {
          // ASCII around it, so no neighbour completes the sequence.
          const ascii = () => rng.bytes(rng.int(0, 64)).map((b) => b & 0x7f);
          return join(ascii(), bad, ascii());
        }
        default:
          return join(utf8(text.slice(0, -2)), [0xe2, 0x82]); // cut inside a character
      }
    },
  },
  {
    kind: "huge arrays",
    weight: 0.1,
    make(m, _, rng) {
      const n = 100_001 + rng.int(0, 20_000); // one more than the most inputs or outputs a transaction may have
      switch (rng.int(0, 2)) {
        case 0:
          return JSON.stringify({ ...m, x: { ...m.x, inputs: Array.from({ length: n }, () => ({})) } });
        case 1:
          return JSON.stringify({ ...m, x: { ...m.x, out: Array.from({ length: n }, () => 0) } });
        default:
          return JSON.stringify(Array.from({ length: n }, (_, i) => i));
      }
    },
  },
  {
    kind: "~1 MB frames",
    weight: 0.1,
    make(m, text, rng) {
      const size = MB + rng.int(-MB / 16, MB / 16);
      switch (rng.int(0, 3)) {
        case 0:
          return JSON.stringify({ ...m, x: { ...m.x, out: [{ ...m.x.out[0], addr: "1".repeat(size) }] } }); // an address of a megabyte
        case 1:
          return JSON.stringify({ ...m, x: { ...m.x, hash: "a".repeat(size) } });
        case 2:
          return `${text}${" ".repeat(size)}x`; // valid, then a megabyte of blanks, then junk
        default:
          return `{"op":"utx","x":${"A".repeat(size)}}`;
      }
    },
  },
];

/** The kinds of malformed frames `malformedFrame` makes. */
export const MALFORMED_KINDS: readonly string[] = BREAKERS.map((b) => b.kind);
const TOTAL_WEIGHT = BREAKERS.reduce((sum, b) => sum + b.weight, 0);

/** A malformed frame, built from a synthetic transaction; `kind` names how it is broken. */
export function malformedFrame(rng: Random, template: SyntheticFeed): Frame {
  const message = template.next(nowSeconds());
  let u = rng.next() * TOTAL_WEIGHT;
  let breaker = BREAKERS[0] as Breaker;
  for (const b of BREAKERS) {
    breaker = b;
    if (u < b.weight) break;
    u -= b.weight;
  }
  return { text: breaker.make(message, JSON.stringify(message), rng), kind: breaker.kind };
}
