/**
 * Group btc-address-values: each transaction adds its outputs to the value received by their
 * addresses and its inputs to the value sent, over the 3-hour window (lua/applyAddresses-7.lua),
 * once; a timer moves the window on while the feed is idle (lua/advanceAddressWindow-6.lua).
 */
import type Redis from "ioredis";
import type { Config } from "../config.ts";
import {
  type AddressBatch,
  type AddressSum,
  type AddressTxRecord,
  advanceAddressWindow,
  type ApplyResult,
  applyAddresses,
  run,
  runAll,
  type ScriptCall,
} from "../redis/scripts.ts";
import type { Transaction } from "../transaction.ts";
import { putVarint, varintLength } from "./address-codec.ts";
import { chunkByArgs, type GroupProcessor, sumResults } from "./group.ts";
import { ADVANCE_MAX_MINUTES, fingerprint, seenBucket } from "./state.ts";

const fingerprints = new Map<string, Buffer>();
/** Addresses are reused heavily: the recent ones keep their fingerprint. */
const FINGERPRINT_CACHE_MAX = 200_000;

/** 8-byte fingerprint of an address (xxHash64, big-endian): how slices and the names hash refer to it. */
export function addressFingerprint(address: string): Buffer {
  let fp = fingerprints.get(address);
  if (!fp) {
    fp = Buffer.allocUnsafe(8);
    fp.writeBigUInt64BE(Bun.hash.xxHash64(address));
    if (fingerprints.size >= FINGERPRINT_CACHE_MAX) fingerprints.delete(fingerprints.keys().next().value as string);
    fingerprints.set(address, fp);
  }
  return fp;
}

/** Per address, the sum of its values; null addresses, unknown values and zeros left out. */
function sums(entries: readonly { address: string | null; value: number | null }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const { address, value } of entries) {
    if (address === null || value === null || value <= 0) continue;
    out.set(address, (out.get(address) ?? 0) + value);
  }
  return out;
}

/** What one transaction adds, per side: address -> satoshi. */
export interface AddressEffect {
  tx: Transaction;
  received: Map<string, number>;
  sent: Map<string, number>;
}

export const addressEffect = (tx: Transaction): AddressEffect => ({ tx, received: sums(tx.outputs), sent: sums(tx.inputs) });

/** Slice records of one side of a transaction: per address, its fingerprint and value (varint). */
function sliceRecords(side: Map<string, number>): Buffer {
  let size = 0;
  for (const value of side.values()) size += 8 + varintLength(value);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [address, value] of side) {
    addressFingerprint(address).copy(out, at);
    at = putVarint(value, out, at + 8);
  }
  return out;
}

/** The applyAddresses arguments for some transactions: their records and the sums per address and side. */
export function addressBatch(effects: readonly AddressEffect[]): AddressBatch {
  const received = new Map<string, number>();
  const sent = new Map<string, number>();
  const txs: AddressTxRecord[] = effects.map(({ tx, received: r, sent: s }) => {
    for (const [a, v] of r) received.set(a, (received.get(a) ?? 0) + v);
    for (const [a, v] of s) sent.set(a, (sent.get(a) ?? 0) + v);
    return { time: tx.time, bucket: seenBucket(tx.hash), fp: fingerprint(tx.hash), received: sliceRecords(r), sent: sliceRecords(s) };
  });
  const list = (m: Map<string, number>): AddressSum[] => [...m].map(([address, total]) => ({ fp: addressFingerprint(address), address, total }));
  return { txs, received: list(received), sent: list(sent) };
}

/** Arguments a transaction can add to a call, at most (5 of its own, 1 per distinct address). */
const argsOf = (e: AddressEffect) => 5 + e.received.size + e.sent.size;

/** The script calls for a batch (pure). */
export function addressesCalls(config: Pick<Config, "REDIS_PREFIX">, txs: readonly Transaction[], nowSec: number): ScriptCall<ApplyResult>[] {
  return chunkByArgs(txs.map(addressEffect), argsOf).map((chunk) => applyAddresses(config, nowSec, addressBatch(chunk)));
}

/** Moves the window to `nowSec`, as many calls as it takes (each bounded); returns the minutes subtracted. */
export async function advanceWindow(redis: Redis, config: Pick<Config, "REDIS_PREFIX">, nowSec: number): Promise<number> {
  let subtracted = 0;
  for (;;) {
    const result = await run(redis, advanceAddressWindow(config, nowSec, ADVANCE_MAX_MINUTES));
    subtracted += result.subtracted;
    if (result.waiting === 0) return subtracted;
  }
}

/** How often the window is moved on while idle: well under a minute, so reads are never a minute behind. */
export const ADVANCE_EVERY_MS = 5_000;

export function addressesGroup(config: Pick<Config, "REDIS_PREFIX">): GroupProcessor {
  return {
    role: "addresses",
    apply: async (redis, txs, nowSec) => sumResults(await runAll(redis, addressesCalls(config, txs, nowSec))),
    tick: async (redis, nowSec) => {
      await advanceWindow(redis, config, nowSec);
    },
    tickEveryMs: ADVANCE_EVERY_MS,
  };
}
