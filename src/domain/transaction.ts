/**
 * The normalized transaction: the value of every record on the `bitcoin_transactions` topic.
 *
 * One TypeBox schema serves the producer (what it writes), every consumer (what it validates
 * before applying a record) and the API (the body it serves). Values are satoshi integers;
 * `time` is the event time in unix seconds (UTC).
 */
import { type Static, Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

/**
 * The record layout the producer writes, in every record's `v`. Bumped when the layout changes.
 *
 * - Version 1: the fields below without `weight`.
 * - Version 2: the same plus `weight`, the transaction's weight in weight units (BIP 141), or
 *   null when the feed's frame had none (older frames do not carry it).
 *
 * The rule for a bump: consumers read the new version and every earlier one a log may still hold
 * (`READ_VERSIONS`), so records written before the bump are applied, not dead-lettered; a record
 * of any other version is dead-lettered. An earlier version reads as the new one with its missing
 * fields unknown: a version-1 record has no `weight` (`tx.weight` is undefined), read like null.
 */
export const SCHEMA_VERSION = 2;
/** The versions a consumer reads: the current one and the earlier ones still in a log. */
export const READ_VERSIONS: readonly number[] = [1, 2];

/** 21 million BTC in satoshi: no single value can be larger. */
export const MAX_SATOSHI = 2_100_000_000_000_000;
/** Bitcoin's block weight limit bounds a transaction's size and its number of inputs/outputs. */
export const MAX_TX_SIZE = 4_000_000;
/** The same limit bounds a transaction's weight: 4,000,000 weight units. */
export const MAX_TX_WEIGHT = 4_000_000;
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

/** A version-2 record: what the producer writes now. */
export const TransactionV2 = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    hash: Type.String({ pattern: "^[0-9a-f]{64}$", description: "transaction id, 64 lowercase hex digits" }),
    time: Type.Integer({ minimum: 0, description: "event time, unix seconds UTC" }),
    size: Type.Integer({ minimum: 0, maximum: MAX_TX_SIZE, description: "bytes" }),
    weight: Type.Union([Type.Integer({ minimum: 0, maximum: MAX_TX_WEIGHT }), Type.Null()], { description: "weight units (BIP 141); null when the feed did not say" }),
    inputs: Type.Array(TxInput, { maxItems: MAX_IO }),
    outputs: Type.Array(TxOutput, { maxItems: MAX_IO }),
    value: Type.Integer({ minimum: 0, maximum: MAX_SATOSHI, description: "sum of the outputs, satoshi" }),
    fee: Type.Union([Type.Integer({ minimum: -MAX_SATOSHI, maximum: MAX_SATOSHI }), Type.Null()], { description: "inputs minus outputs, satoshi; null when unknown" }),
    received_at: Type.Integer({ minimum: 0, description: "when the producer received it, unix milliseconds" }),
  },
  { additionalProperties: false },
);

const { v: _v2, weight: _weight, ...v1Properties } = TransactionV2.properties;
/** A version-1 record, as written before `weight`: the same without it (still read: see `SCHEMA_VERSION`). */
export const TransactionV1 = Type.Object({ v: Type.Literal(1), ...v1Properties }, { additionalProperties: false });

/** A record of any version a consumer reads (`READ_VERSIONS`). */
export const Transaction = Type.Union([TransactionV1, TransactionV2]);

/** A record of any version read; on a version-1 record `weight` is undefined (unknown). */
export type Transaction = (Static<typeof TransactionV1> & { weight?: undefined }) | Static<typeof TransactionV2>;
export type TxInput = Static<typeof TxInput>;
export type TxOutput = Static<typeof TxOutput>;

const compiledV1 = TypeCompiler.Compile(TransactionV1);
const compiledV2 = TypeCompiler.Compile(TransactionV2);

/**
 * Checks an already-parsed record value; returns the reason when it is not a Transaction. It is
 * checked against the layout its `v` names (version 1, or else the current one), so the reason
 * points at the field that is wrong. Beyond the schema: its outputs, and its known inputs, each
 * add up to 21 million BTC at most (the scripts' sums rely on it: lua/includes/bounds.lua).
 */
export function checkTransaction(value: unknown): { ok: true; tx: Transaction } | { ok: false; reason: string } {
  const compiled = (value as { v?: unknown } | null)?.v === 1 ? compiledV1 : compiledV2;
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
 * The virtual size in vbytes (BIP 141): the weight divided by 4, rounded up, when the weight is
 * known; the size in bytes otherwise (a version-1 record, or a frame without weight).
 */
export const vsize = (tx: { size: number; weight?: number | null }): number => (tx.weight == null ? tx.size : Math.ceil(tx.weight / 4));

/**
 * A transaction as the API serves it and the transactions group stores it: the record without
 * its version `v` and the producer's `received_at`, which are pipeline details. Without `weight`
 * too: the API's body stays the contract's, the same whatever the record's version.
 */
export const TransactionView = Type.Omit(TransactionV2, ["v", "weight", "received_at"], { title: "Transaction" });
export type TransactionView = Static<typeof TransactionView>;

/** The view of a record, properties in the contract's order; a record's `weight` is not part of it. */
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
