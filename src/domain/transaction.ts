/**
 * The normalized transaction: the value of every record on the `bitcoin_transactions` topic.
 *
 * One TypeBox schema serves the producer (what it writes), every consumer (what it validates
 * before applying a record) and the API (the body it serves). Values are satoshi integers;
 * `time` is the event time in unix seconds (UTC).
 */
import { type Static, Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

/** Bumped when the record layout changes; consumers dead-letter versions they do not know. */
export const SCHEMA_VERSION = 1;

/** 21 million BTC in satoshi: no single value can be larger. */
export const MAX_SATOSHI = 2_100_000_000_000_000;
/** Bitcoin's block weight limit bounds a transaction's size and its number of inputs/outputs. */
export const MAX_TX_SIZE = 4_000_000;
export const MAX_IO = 100_000;

const Satoshi = Type.Integer({ minimum: 0, maximum: MAX_SATOSHI, description: "satoshi" });
const Address = Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()], {
  description: "null for outputs without an address (OP_RETURN, non-standard)",
});

export const TxInput = Type.Object({
  address: Address,
  value: Type.Union([Satoshi, Type.Null()], { description: "satoshi; null when the feed did not say" }),
});

export const TxOutput = Type.Object({ address: Address, value: Satoshi });

export const Transaction = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    hash: Type.String({ pattern: "^[0-9a-f]{64}$", description: "transaction id, 64 lowercase hex digits" }),
    time: Type.Integer({ minimum: 0, description: "event time, unix seconds UTC" }),
    size: Type.Integer({ minimum: 0, maximum: MAX_TX_SIZE, description: "bytes" }),
    inputs: Type.Array(TxInput, { maxItems: MAX_IO }),
    outputs: Type.Array(TxOutput, { maxItems: MAX_IO }),
    value: Type.Integer({ minimum: 0, maximum: MAX_SATOSHI, description: "sum of the outputs, satoshi" }),
    fee: Type.Union([Type.Integer({ minimum: -MAX_SATOSHI, maximum: MAX_SATOSHI }), Type.Null()], { description: "inputs minus outputs, satoshi; null when unknown" }),
    received_at: Type.Integer({ minimum: 0, description: "when the producer received it, unix milliseconds" }),
  },
  { additionalProperties: false },
);

export type Transaction = Static<typeof Transaction>;
export type TxInput = Static<typeof TxInput>;
export type TxOutput = Static<typeof TxOutput>;

const compiled = TypeCompiler.Compile(Transaction);

/**
 * Checks an already-parsed record value; returns the reason when it is not a Transaction. Beyond
 * the schema: its outputs, and its known inputs, each add up to 21 million BTC at most (the
 * scripts' sums rely on it: lua/includes/bounds.lua).
 */
export function checkTransaction(value: unknown): { ok: true; tx: Transaction } | { ok: false; reason: string } {
  if (compiled.Check(value)) {
    const outputs = value.outputs.reduce((s, o) => s + o.value, 0);
    if (outputs > MAX_SATOSHI) return { ok: false, reason: "/outputs: outputs add up to more than 21 million BTC" };
    const inputs = value.inputs.reduce((s, i) => s + (i.value ?? 0), 0);
    if (inputs > MAX_SATOSHI) return { ok: false, reason: "/inputs: inputs add up to more than 21 million BTC" };
    return { ok: true, tx: value };
  }
  const first = compiled.Errors(value).First();
  return { ok: false, reason: first ? `${first.path || "/"}: ${first.message}` : "not a transaction" };
}

/** Parses and checks a Kafka record value. */
export function decodeTransaction(bytes: Buffer | string | null): { ok: true; tx: Transaction } | { ok: false; reason: string } {
  if (bytes === null) return { ok: false, reason: "empty record value" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof bytes === "string" ? bytes : bytes.toString("utf8"));
  } catch {
    return { ok: false, reason: "record value is not JSON" };
  }
  return checkTransaction(parsed);
}

/**
 * A transaction as the API serves it and the transactions group stores it: the record without
 * its version `v` and the producer's `received_at`, which are pipeline details.
 */
export const TransactionView = Type.Omit(Transaction, ["v", "received_at"], { title: "Transaction" });
export type TransactionView = Static<typeof TransactionView>;

/** The view of a record, properties in the contract's order. */
export const toView = (tx: TransactionView): TransactionView => ({
  hash: tx.hash,
  time: tx.time,
  size: tx.size,
  inputs: tx.inputs,
  outputs: tx.outputs,
  value: tx.value,
  fee: tx.fee,
});

/** The JSON text of a view: what Redis stores under the transaction's hash, and the API serves as is. */
export const viewJson = (tx: TransactionView): string => JSON.stringify(toView(tx));
