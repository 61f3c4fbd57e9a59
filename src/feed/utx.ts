/**
 * The blockchain.com feed's messages, checked and turned into a `Transaction`.
 *
 * `readFeedMessage(raw, now)` is pure: one websocket frame in, one of
 *   - `{ kind: "tx", tx }`        a valid `utx`, normalized (src/domain/transaction.ts),
 *   - `{ kind: "control", op }`   any other op (`pong`, ...): handled, not an error,
 *   - `{ kind: "invalid", reason }` anything else, with a reason specific enough to fix the sender
 *     (a frame above `MAX_FRAME_BYTES` without reading it).
 * Only the fields the pipeline uses are checked; unknown extra fields are normal and ignored.
 */
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { MAX_IO, MAX_SATOSHI, MAX_TX_SIZE, MAX_TX_WEIGHT, SCHEMA_VERSION, type Transaction, type TxInput, type TxOutput } from "../domain/transaction.ts";
import { MAX_FUTURE_SECONDS } from "../domain/window.ts";

/**
 * The largest frame read. A standard transaction (at most 400,000 weight units, 100 kB) makes a
 * frame of well under 2 MB, scripts in hex included; a larger frame is refused as it is, without
 * being decoded or parsed (a JSON.parse of tens of megabytes would take many times that in
 * objects), and dead-lettered cut. Bun's WebSocket client (1.3) has no receive limit: the frame
 * is already whole in memory when it reaches this check, and is released right after it.
 */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Bytes of a frame: its UTF-8 length for a text frame, counted without encoding it. */
export const frameBytes = (raw: string | Buffer) => (typeof raw === "string" ? Buffer.byteLength(raw) : raw.length);

/**
 * A transaction stamped further ahead of its arrival than this is counted at its arrival time
 * (clock skew, bad relays). Arrival is on Redis's clock, the one every process reads, so a producer
 * whose own clock is off moves no transaction (src/producer/producer.ts). Defined in the domain:
 * the completeness of an answer depends on it (src/domain/coverage.ts).
 */
export { MAX_FUTURE_SECONDS };

const Satoshi = Type.Integer({ minimum: 0, maximum: MAX_SATOSHI });
/** Missing, null or "" when the output has no address (OP_RETURN, non-standard scripts). */
const Addr = Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()]));

export const UtxInput = Type.Object({
  // Without `prev_out.value` the input is kept and the fee is unknown (null).
  prev_out: Type.Optional(Type.Object({ addr: Addr, value: Type.Optional(Satoshi) })),
});
export const UtxOutput = Type.Object({ addr: Addr, value: Satoshi });

export const Utx = Type.Object({
  op: Type.Literal("utx"),
  x: Type.Object({
    hash: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    time: Type.Integer({ minimum: 0 }),
    size: Type.Integer({ minimum: 0, maximum: MAX_TX_SIZE }),
    // Weight units; older frames have none, and the record's weight is then null.
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TX_WEIGHT })),
    inputs: Type.Array(UtxInput, { minItems: 1, maxItems: MAX_IO }),
    out: Type.Array(UtxOutput, { minItems: 1, maxItems: MAX_IO }),
  }),
});

const utx = TypeCompiler.Compile(Utx);

export type FeedMessage = { kind: "tx"; tx: Transaction } | { kind: "control"; op: string } | { kind: "invalid"; reason: string };

/**
 * Strict: a binary frame that is not UTF-8 is refused, not patched with U+FFFD (which could make
 * it look valid); a byte order mark is kept, so JSON.parse refuses it as it does in a text frame.
 */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads one frame of the feed received at `now` (unix ms, Redis's clock). */
export function readFeedMessage(raw: string | Buffer, now: number): FeedMessage {
  const bytes = frameBytes(raw);
  if (bytes > MAX_FRAME_BYTES) return { kind: "invalid", reason: `frame of ${bytes} bytes, above the ${MAX_FRAME_BYTES}-byte limit: not read` };
  let text: string;
  try {
    text = typeof raw === "string" ? raw : UTF8.decode(raw);
  } catch {
    return { kind: "invalid", reason: "not UTF-8" };
  }
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { kind: "invalid", reason: "not JSON" };
  }
  const op = (message as { op?: unknown } | null)?.op;
  if (typeof op !== "string") return { kind: "invalid", reason: "not an object with a string op" };
  if (op !== "utx") return { kind: "control", op };
  if (!utx.Check(message)) {
    const first = utx.Errors(message).First();
    return { kind: "invalid", reason: first ? `${first.path}: ${first.message}` : "not a utx message" };
  }
  return normalize(message.x, now);
}

function normalize(x: (typeof Utx.static)["x"], now: number): FeedMessage {
  const outputs: TxOutput[] = [];
  let value = 0;
  for (const o of x.out) {
    outputs.push({ address: o.addr || null, value: o.value });
    value += o.value;
  }
  const inputs: TxInput[] = [];
  let spent: number | null = 0;
  for (const i of x.inputs) {
    const v = i.prev_out?.value ?? null;
    inputs.push({ address: i.prev_out?.addr || null, value: v });
    spent = v === null || spent === null ? null : spent + v;
  }
  // Each value is at most 21e6 BTC, so these sums stay exact doubles (below 2^53) until they exceed it.
  if (value > MAX_SATOSHI) return { kind: "invalid", reason: "/x/out: outputs add up to more than 21 million BTC" };
  if (spent !== null && spent > MAX_SATOSHI) return { kind: "invalid", reason: "/x/inputs: inputs add up to more than 21 million BTC" };
  if (spent !== null && spent < value) return { kind: "invalid", reason: `/x/inputs: inputs (${spent}) add up to less than the outputs (${value})` };
  const arrival = Math.floor(now / 1000);
  return {
    kind: "tx",
    tx: {
      v: SCHEMA_VERSION,
      hash: x.hash,
      time: x.time > arrival + MAX_FUTURE_SECONDS ? arrival : x.time,
      size: x.size,
      weight: x.weight ?? null,
      inputs,
      outputs,
      value,
      fee: spent === null ? null : spent - value,
      received_at: now,
    },
  };
}
