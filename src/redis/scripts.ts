/**
 * Typed calls of the Lua scripts in lua/ (loaded once per client by `defineScripts`).
 *
 * Each wrapper builds one `ScriptCall`: the script's name, its KEYS and ARGV in the order of the
 * script's header comment, and how to read its reply. `run` sends one call; `runAll` sends many in
 * one pipeline (one round trip) and reads every reply. A negative integer reply is an error code,
 * turned into a `ScriptError` with the message from `SCRIPT_ERRORS`, the one table of them.
 */
import type Redis from "ioredis";
import type { ChainableCommander } from "ioredis";
import type { Config } from "../config.ts";
import { putVarint, varintLength } from "../consumers/address-codec.ts";
import {
  ADVANCE_MAX_MINUTES,
  HOUR_BUCKET_KEEP_SECONDS,
  MINUTE_BUCKET_KEEP_SECONDS,
  SEEN_MARGIN_SECONDS,
  TX_LIST_KEEP_SECONDS,
  WINDOW_MINUTES,
} from "../consumers/state.ts";
import {
  addrNamesPrefix,
  addrReceivedKey,
  addrSentKey,
  addrSlicePrefix,
  addrSlicesKey,
  addrWindowKey,
  countsHourPrefix,
  countsMinutePrefix,
  seenPrefix,
  txListPrefix,
  txMinutesKey,
} from "./keys.ts";
import { defineScripts } from "./loader.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;
type Arg = string | number | Buffer;

export type ScriptName = "applyCounts" | "applyAddresses" | "advanceAddressWindow" | "applyTransactions" | "trimTransactions" | "findTransaction";

export interface ScriptCall<T> {
  readonly name: ScriptName;
  readonly keys: readonly string[];
  readonly args: readonly Arg[];
  readonly parse: (reply: unknown) => T;
  /** Read bulk replies as Buffers (binary bodies) through ioredis' `<name>Buffer` variant. */
  readonly buffer?: boolean;
}

/** Error codes the scripts return (negative integers), with what they mean. */
export const SCRIPT_ERRORS: Readonly<Record<number, string>> = {
  [-1]: "the records do not divide into whole records (wrong number of arguments)",
  [-2]: "now or a setting is not a number",
  [-3]: "a time, count or value is not a non-negative integer",
};

export class ScriptError extends Error {
  override name = "ScriptError";
  constructor(
    readonly script: ScriptName,
    readonly code: number,
  ) {
    super(`${script}: ${SCRIPT_ERRORS[code] ?? "unknown error"} (code ${code})`);
  }
}

function checked<T>(call: ScriptCall<T>, reply: unknown): T {
  if (typeof reply === "number" && reply < 0) throw new ScriptError(call.name, reply);
  return call.parse(reply);
}

const commandName = (call: ScriptCall<unknown>) => (call.buffer ? `${call.name}Buffer` : call.name);

const numbers = (reply: unknown) => (reply as (number | string)[]).map(Number);

/** Sends one script call. */
export async function run<T>(redis: Redis, call: ScriptCall<T>): Promise<T> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[commandName(call)];
  if (!fn) throw new Error(`script ${call.name} is not loaded (lua/${call.name}-<keys>.lua)`);
  return checked(call, await fn.call(redis, ...call.keys, ...call.args));
}

/** Adds a script call to a pipeline (its reply is read by `call.parse` after exec). */
export function queue(pipeline: ChainableCommander, call: ScriptCall<unknown>): void {
  const fn = (pipeline as unknown as Record<string, (...a: Arg[]) => unknown>)[commandName(call)];
  if (!fn) throw new Error(`script ${call.name} is not loaded on this client (call defineScripts first)`);
  fn.call(pipeline, ...call.keys, ...call.args);
}

/** Sends every call in one pipeline; rejects with the first error, after every reply is in. */
export async function runAll<T>(redis: Redis, calls: readonly ScriptCall<T>[]): Promise<T[]> {
  if (!calls.length) return [];
  defineScripts(redis);
  const pipeline = redis.pipeline();
  for (const call of calls) queue(pipeline, call);
  const replies = (await pipeline.exec()) ?? [];
  if (replies.length !== calls.length) throw new Error(`pipeline answered ${replies.length} of ${calls.length} script calls`);
  return replies.map(([err, reply], i) => {
    if (err) throw err;
    return checked(calls[i] as ScriptCall<T>, reply);
  });
}

// ---- applying transactions (one call per chunk of a batch) ------------------------------------

/** What one apply call did. */
export interface ApplyResult {
  applied: number;
  duplicates: number;
  stale: number;
}

/** Per transaction: event time, dedupe bucket and fingerprint (src/consumers/state.ts), value. */
export interface CountsRecord {
  time: number;
  bucket: number;
  fp: string;
  value: number;
}

/** lua/applyCounts-3.lua */
export function applyCounts(config: Prefixed, nowSec: number, records: readonly CountsRecord[]): ScriptCall<ApplyResult> {
  const args: Arg[] = [nowSec, WINDOW_MINUTES, MINUTE_BUCKET_KEEP_SECONDS, HOUR_BUCKET_KEEP_SECONDS, SEEN_MARGIN_SECONDS];
  for (const r of records) args.push(r.time, r.bucket, r.fp, r.value);
  return {
    name: "applyCounts",
    keys: [countsMinutePrefix(config), countsHourPrefix(config), seenPrefix(config, "counts")],
    args,
    parse: (reply) => {
      const [applied = 0, duplicates = 0, stale = 0] = numbers(reply);
      return { applied, duplicates, stale };
    },
  };
}

/** One transaction for applyAddresses: its dedupe fields and its slice records per side. */
export interface AddressTxRecord {
  time: number;
  bucket: number;
  fp: string;
  /** Slice records of its outputs: per address, 8-byte fingerprint then varint value. */
  received: Buffer;
  /** Slice records of its inputs. */
  sent: Buffer;
}

/** The batch's sum for one address on one side. */
export interface AddressSum {
  /** 8-byte address fingerprint (as in the slice records). */
  fp: Buffer;
  address: string;
  total: number;
}

export interface AddressBatch {
  txs: readonly AddressTxRecord[];
  received: readonly AddressSum[];
  sent: readonly AddressSum[];
}

export interface AddressApplyResult extends ApplyResult {
  /** The window start (unix s) after this call. */
  windowStart: number;
}

/** The sums of one side as slice records (fingerprint, varint total), one per address, in order. */
function sumRecords(sums: readonly AddressSum[]): Buffer {
  let size = 0;
  for (const e of sums) size += 8 + varintLength(e.total);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of sums) {
    e.fp.copy(out, at);
    at = putVarint(e.total, out, at + 8);
  }
  return out;
}

const addressKeys = (config: Prefixed) => [
  addrReceivedKey(config),
  addrSentKey(config),
  addrSlicesKey(config),
  addrWindowKey(config),
  addrSlicePrefix(config),
  addrNamesPrefix(config),
];

/** lua/applyAddresses-7.lua */
export function applyAddresses(config: Prefixed, nowSec: number, batch: AddressBatch, maxMinutes = ADVANCE_MAX_MINUTES): ScriptCall<AddressApplyResult> {
  const args: Arg[] = [nowSec, WINDOW_MINUTES, SEEN_MARGIN_SECONDS, maxMinutes, batch.txs.length, batch.received.length, batch.sent.length];
  for (const t of batch.txs) args.push(t.time, t.bucket, t.fp, t.received, t.sent);
  for (const e of batch.received) args.push(e.address);
  for (const e of batch.sent) args.push(e.address);
  args.push(sumRecords(batch.received), sumRecords(batch.sent));
  return {
    name: "applyAddresses",
    keys: [...addressKeys(config), seenPrefix(config, "addresses")],
    args,
    parse: (reply) => {
      const [applied = 0, duplicates = 0, stale = 0, windowStart = 0] = numbers(reply);
      return { applied, duplicates, stale, windowStart };
    },
  };
}

export interface AdvanceResult {
  /** The window start (unix s). */
  windowStart: number;
  /** Minutes subtracted by this call. */
  subtracted: number;
  /** Expired minutes still to subtract (call again). */
  waiting: number;
}

/** lua/advanceAddressWindow-6.lua */
export function advanceAddressWindow(config: Prefixed, nowSec: number, maxMinutes = ADVANCE_MAX_MINUTES): ScriptCall<AdvanceResult> {
  return {
    name: "advanceAddressWindow",
    keys: addressKeys(config),
    args: [nowSec, WINDOW_MINUTES, maxMinutes],
    parse: (reply) => {
      const [windowStart = 0, subtracted = 0, waiting = 0] = numbers(reply);
      return { windowStart, subtracted, waiting };
    },
  };
}

/** Per transaction: event time, dedupe bucket, fingerprint, stored body (src/consumers/body.ts). */
export interface TransactionRecord {
  time: number;
  bucket: number;
  fp: string;
  body: Buffer;
}

export interface TrimResult {
  removedByWindow: number;
  removedByCap: number;
  stored: number;
}

export type TransactionsApplyResult = ApplyResult & TrimResult;

/** lua/applyTransactions-3.lua */
export function applyTransactions(config: Pick<Config, "REDIS_PREFIX" | "TX_CAP">, nowSec: number, records: readonly TransactionRecord[]): ScriptCall<TransactionsApplyResult> {
  const args: Arg[] = [nowSec, WINDOW_MINUTES, config.TX_CAP, SEEN_MARGIN_SECONDS, TX_LIST_KEEP_SECONDS];
  for (const r of records) args.push(r.time, r.bucket, r.fp, r.body);
  return {
    name: "applyTransactions",
    keys: [txMinutesKey(config), txListPrefix(config), seenPrefix(config, "transactions")],
    args,
    parse: (reply) => {
      const [applied = 0, duplicates = 0, stale = 0, removedByWindow = 0, removedByCap = 0, stored = 0] = numbers(reply);
      return { applied, duplicates, stale, removedByWindow, removedByCap, stored };
    },
  };
}

/** lua/trimTransactions-2.lua */
export function trimTransactions(config: Pick<Config, "REDIS_PREFIX" | "TX_CAP">, nowSec: number): ScriptCall<TrimResult> {
  return {
    name: "trimTransactions",
    keys: [txMinutesKey(config), txListPrefix(config)],
    args: [nowSec, WINDOW_MINUTES, config.TX_CAP],
    parse: (reply) => {
      const [removedByWindow = 0, removedByCap = 0, stored = 0] = numbers(reply);
      return { removedByWindow, removedByCap, stored };
    },
  };
}

/** lua/findTransaction-3.lua: the stored body of `hash` (64 hex digits), or null. */
export function findTransaction(config: Prefixed, hash: string, bucket: number, fp: string): ScriptCall<Buffer | null> {
  return {
    name: "findTransaction",
    keys: [txMinutesKey(config), txListPrefix(config), seenPrefix(config, "transactions")],
    args: [Buffer.from(hash, "hex"), bucket, fp],
    buffer: true,
    parse: (reply) => (Buffer.isBuffer(reply) ? reply : null),
  };
}
