/**
 * The stored form of a transaction (group btc-transactions): what the API serves and nothing
 * else, in about 200 bytes for a 3-in/3-out transaction instead of the record's ~700.
 *
 *   byte 0        format version (1)
 *   bytes 1..32   the hash, 32 raw bytes
 *   bytes 33..36  time, unix seconds, unsigned 32-bit big-endian   <- read by the Lua scripts
 *   varint size, varint value, varint fee (0 = null, else zigzag(fee) + 1),
 *   varint #inputs, varint #outputs,
 *   per input:  packed address (address-codec.ts), varint value (0 = null, else value + 1)
 *   per output: packed address, varint value
 *
 * The Lua scripts read only the hash and the time (fixed offsets); everything else is opaque to them.
 */
import type { Transaction, TxInput, TxOutput } from "../transaction.ts";
import { packedAddress, putVarint, readVarint, unpackAddress } from "./address-codec.ts";

export const BODY_FORMAT = 1;
/** 1-based offsets, as Lua's string.sub / string.byte count them. */
export const BODY_HASH_FROM = 2;
export const BODY_TIME_FROM = 34;

/** What the API serves of a stored transaction. */
export interface StoredTransaction {
  hash: string;
  time: number;
  size: number;
  inputs: TxInput[];
  outputs: TxOutput[];
  value: number;
  fee: number | null;
}

const zigzag = (n: number) => (n >= 0 ? 2 * n : -2 * n - 1);
const unzigzag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2);

let scratch = new Uint8Array(4096);

export function encodeBody(tx: Pick<Transaction, keyof StoredTransaction>): Buffer {
  // Upper bound: fixed part, five varints, and per input/output its packed address and a varint.
  const inputs = tx.inputs.map((i) => packedAddress(i.address));
  const outputs = tx.outputs.map((o) => packedAddress(o.address));
  let bound = 37 + 5 * 8;
  for (const p of inputs) bound += p.length + 8;
  for (const p of outputs) bound += p.length + 8;
  if (scratch.length < bound) scratch = new Uint8Array(bound * 2);
  const out = scratch;
  out[0] = BODY_FORMAT;
  out.set(Buffer.from(tx.hash, "hex"), 1);
  const t = tx.time;
  out[33] = Math.floor(t / 0x1000000) & 0xff;
  out[34] = (t >>> 16) & 0xff;
  out[35] = (t >>> 8) & 0xff;
  out[36] = t & 0xff;
  let at = 37;
  at = putVarint(tx.size, out, at);
  at = putVarint(tx.value, out, at);
  at = putVarint(tx.fee === null ? 0 : zigzag(tx.fee) + 1, out, at);
  at = putVarint(tx.inputs.length, out, at);
  at = putVarint(tx.outputs.length, out, at);
  tx.inputs.forEach((input, i) => {
    const packed = inputs[i] as Uint8Array;
    out.set(packed, at);
    at = putVarint(input.value === null ? 0 : input.value + 1, out, at + packed.length);
  });
  tx.outputs.forEach((output, i) => {
    const packed = outputs[i] as Uint8Array;
    out.set(packed, at);
    at = putVarint(output.value, out, at + packed.length);
  });
  return Buffer.from(out.subarray(0, at));
}

export function decodeBody(body: Uint8Array): StoredTransaction {
  if (body[0] !== BODY_FORMAT) throw new Error(`stored transaction: unknown format ${body[0]}`);
  const hash = Buffer.from(body.subarray(1, 33)).toString("hex");
  const time = (body[33] as number) * 0x1000000 + (((body[34] as number) << 16) | ((body[35] as number) << 8) | (body[36] as number));
  let at = 37;
  const next = () => {
    const [v, after] = readVarint(body, at);
    at = after;
    return v;
  };
  const size = next();
  const value = next();
  const feeRaw = next();
  const nIn = next();
  const nOut = next();
  const inputs: TxInput[] = [];
  for (let i = 0; i < nIn; i++) {
    const [address, after] = unpackAddress(body, at);
    at = after;
    const v = next();
    inputs.push({ address, value: v === 0 ? null : v - 1 });
  }
  const outputs: TxOutput[] = [];
  for (let i = 0; i < nOut; i++) {
    const [address, after] = unpackAddress(body, at);
    at = after;
    outputs.push({ address, value: next() });
  }
  return { hash, time, size, inputs, outputs, value, fee: feeRaw === 0 ? null : unzigzag(feeRaw - 1) };
}
