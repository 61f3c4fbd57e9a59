/**
 * Typed calls of the Lua scripts in lua/ (loaded once per client by `defineScripts`).
 *
 * Each wrapper builds one `ScriptCall`: the script's name, its KEYS and ARGV in the order of the
 * script's header comment, and how to read its reply. `run` sends one call; `runAll` sends many in
 * one pipeline (one round trip) and reads every reply. A negative integer reply is an error code,
 * turned into a `ScriptError` with the message from `SCRIPT_ERRORS`, the one table of them.
 *
 * "Now" is Redis's clock (lua/includes/clock.lua): the service never passes a time. Tests may
 * pass `at` (unix seconds) to place a call at a chosen time.
 */
import type Redis from "ioredis";
import type { ChainableCommander } from "ioredis";
import type { Config } from "../domain/config.ts";
import { REPLAY_LOOKBACK_SECONDS } from "../domain/groups.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";
import { type TransactionView, viewJson } from "../domain/transaction.ts";
import { HOUR_BUCKET_KEEP_SECONDS, MAX_AHEAD_SECONDS, MINUTE_BUCKET_KEEP_SECONDS, SEEN_MARGIN_SECONDS, WINDOW_BUDGET, WINDOW_MINUTES } from "../domain/window.ts";
import { addressKeys, countsHourPrefix, countsMinutePrefix, positionKey, replayKey, type StateRole, seenKey, txBodyPrefix, txByTimeKey, txDroppedKey } from "./keys.ts";
import { defineScripts } from "./loader.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;
type Arg = string | number;

export type ScriptName =
  | "applyCounts"
  | "applyAddresses"
  | "advanceAddressWindow"
  | "applyTransactions"
  | "trimTransactions"
  | "startReplay"
  | "advanceCoverage"
  | "dropCounts"
  | "dropAddresses"
  | "dropTransactions"
  | "deleteDroppedTransactions";

export interface ScriptCall<T> {
  readonly name: ScriptName;
  readonly keys: readonly string[];
  readonly args: readonly Arg[];
  readonly parse: (reply: unknown) => T;
}

/**
 * Error codes the scripts return (negative integers): the one table of them, with each one's name
 * and meaning. A script returns one by name, `return scriptError("<NAME>")`, through
 * lua/includes/scriptError.lua (the same names and codes, for Lua), and its header lists the ones
 * it returns as `-<code> <NAME>  <which arguments>`; test/lua-loader.test.ts checks that all agree.
 */
export const SCRIPT_ERRORS: Readonly<Record<number, { readonly name: string; readonly message: string }>> = {
  [-1]: { name: "BAD_RECORDS", message: "the records do not divide into whole records (wrong number of arguments)" },
  [-2]: { name: "NOT_A_NUMBER", message: "now or a setting is not a number" },
  [-3]: { name: "NOT_A_COUNT", message: "a time, count or value is not a non-negative integer" },
  [-4]: {
    name: "OUT_OF_RANGE",
    message: "a value is above 21 million BTC, or a sum the record adds to would leave the range where Redis keeps it exactly (int64 for HINCRBY, 2^53 for ZINCRBY)",
  },
};

export class ScriptError extends Error {
  override name = "ScriptError";
  constructor(
    readonly script: ScriptName,
    readonly code: number,
  ) {
    super(`${script}: ${SCRIPT_ERRORS[code]?.message ?? "unknown error"} (code ${code})`);
  }
}

function checked<T>(call: ScriptCall<T>, reply: unknown): T {
  if (typeof reply === "number" && reply < 0) throw new ScriptError(call.name, reply);
  return call.parse(reply);
}

const numbers = (reply: unknown) => (reply as (number | string)[]).map(Number);
/** "" = Redis's clock. */
const clockArg = (at: number | undefined): Arg => at ?? "";

/** Sends one script call. */
export async function run<T>(redis: Redis, call: ScriptCall<T>): Promise<T> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[call.name];
  if (!fn) throw new Error(`script ${call.name} is not loaded (lua/${call.name}-<keys>.lua)`);
  return checked(call, await fn.call(redis, ...call.keys, ...call.args));
}

/** Adds a script call to a pipeline (its reply is read by `call.parse` after exec). */
export function queue(pipeline: ChainableCommander, call: ScriptCall<unknown>): void {
  const fn = (pipeline as unknown as Record<string, (...a: Arg[]) => unknown>)[call.name];
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

// ---- positions: where a group is in the log ----------------------------------------------------

/**
 * The stretch of one partition an apply call covers: it applies only when the group's position
 * for `field` is `from`, and leaves it at `to` (lua/includes/checkPosition.lua).
 */
export interface Stretch {
  /** "<topic>:<partition>" (keys.ts positionField); "" applies without a position (tests, benchmarks). */
  field: string;
  from: string;
  to: string;
}

/** Applies without a log position: for tests and benchmarks that fill Redis directly. */
export const NO_POSITION: Stretch = { field: "", from: "", to: "" };

/**
 * What an apply call did: applied (with the script's figures), refused on the position, or refused
 * because `key` holds another type than the script writes there (someone wrote it by hand; nothing
 * was written, and no record is at fault: the partition waits until the key is put right).
 */
export type Applied<T> = ({ status: "applied" } & T) | { status: "moved"; position: string } | { status: "unset" } | { status: "wrong_type"; key: string };

export interface ApplyResult {
  applied: number;
  duplicates: number;
  stale: number;
}

function applied<T>(reply: unknown, figures: (n: number[]) => T): Applied<T> {
  const [status, ...rest] = reply as [string, ...(string | number)[]];
  if (status === "moved") return { status, position: String(rest[0]) };
  if (status === "unset") return { status };
  if (status === "wrong_type") return { status, key: String(rest[0]) };
  return { status: "applied", ...figures(rest.map(Number)) };
}

/**
 * How long a group remembers a transaction hash after the first copy arrived (Redis time): its
 * keep (how long a record can still be applied: REPLAY_LOOKBACK_SECONDS, 25 h for counts, the
 * window and its margin for the others) plus MAX_AHEAD_SECONDS, the most a copy's time can be
 * ahead of the clock. A copy stamped up to that much later than the first one's arrival is
 * therefore never applied twice, however late it comes (lua/includes/rememberSeen.lua).
 */
export const seenKeepSeconds = (role: StateRole) => REPLAY_LOOKBACK_SECONDS[role] + MAX_AHEAD_SECONDS;

const stretchArgs = (s: Stretch): Arg[] => [s.field, s.from, s.to];

/** lua/startReplay-2.lua: the position a partition without one starts from; another process's stands. `coversFromMs` "" = not known yet. */
export function startReplay(config: Prefixed, role: StateRole, field: string, from: string, until: string, coversFromMs: number | "", shard: Shard = WHOLE): ScriptCall<string> {
  return {
    name: "startReplay",
    keys: [positionKey(config, role, shard), replayKey(config, role, shard)],
    args: [field, from, until, coversFromMs],
    parse: (reply) => String((reply as string[])[1]),
  };
}

// ---- group btc-minute-counts -------------------------------------------------------------------

/** lua/applyCounts-4.lua: per transaction, its hash, time and value. */
export function applyCounts(config: Prefixed, stretch: Stretch, records: readonly { hash: string; time: number; value: number }[], at?: number): ScriptCall<Applied<ApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), MINUTE_BUCKET_KEEP_SECONDS, HOUR_BUCKET_KEEP_SECONDS, seenKeepSeconds("counts")];
  for (const r of records) args.push(r.hash, r.time, r.value);
  return {
    name: "applyCounts",
    keys: [countsMinutePrefix(config), countsHourPrefix(config), seenKey(config, "counts"), positionKey(config, "counts")],
    args,
    parse: (reply) => applied(reply, ([applied = 0, duplicates = 0, stale = 0]) => ({ applied, duplicates, stale })),
  };
}

// ---- group btc-address-values ------------------------------------------------------------------

/** One transaction for applyAddresses: per side, address -> satoshi. */
export interface AddressRecord {
  hash: string;
  time: number;
  received: ReadonlyMap<string, number>;
  sent: ReadonlyMap<string, number>;
}

export interface AddressApplyResult extends ApplyResult {
  /** The window start (unix s) after this call. */
  windowStart: number;
}

const windowKeys = (config: Prefixed, shard: Shard) => {
  const k = addressKeys(config, shard);
  return [k.total("received"), k.total("sent"), k.minutes, k.window, k.minutePrefix("received"), k.minutePrefix("sent")];
};

/** Arguments one transaction takes in applyAddresses. */
export const addressRecordArgs = (r: AddressRecord) => 4 + 2 * (r.received.size + r.sent.size);

/** lua/applyAddresses-8.lua, into the projection or one of its shards (its records hold only the shard's addresses). */
export function applyAddresses(config: Prefixed, stretch: Stretch, records: readonly AddressRecord[], at?: number, shard: Shard = WHOLE): ScriptCall<Applied<AddressApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), WINDOW_MINUTES, seenKeepSeconds("addresses"), WINDOW_BUDGET];
  for (const r of records) {
    args.push(r.hash, r.time, r.received.size, r.sent.size);
    for (const [address, value] of r.received) args.push(address, value);
    for (const [address, value] of r.sent) args.push(address, value);
  }
  return {
    name: "applyAddresses",
    keys: [...windowKeys(config, shard), seenKey(config, "addresses", shard), positionKey(config, "addresses", shard)],
    args,
    parse: (reply) => applied(reply, ([applied = 0, duplicates = 0, stale = 0, windowStart = 0]) => ({ applied, duplicates, stale, windowStart })),
  };
}

export interface AdvanceResult {
  /** The window start (unix s). */
  windowStart: number;
  /** Minute-set entries subtracted by this call. */
  subtracted: number;
  /** Expired entries are still waiting (call again). */
  waiting: boolean;
}

/** lua/advanceAddressWindow-6.lua */
export function advanceAddressWindow(config: Prefixed, at?: number, budget = WINDOW_BUDGET, shard: Shard = WHOLE): ScriptCall<AdvanceResult> {
  return {
    name: "advanceAddressWindow",
    keys: windowKeys(config, shard),
    args: [clockArg(at), WINDOW_MINUTES, budget],
    parse: (reply) => {
      const [windowStart = 0, subtracted = 0, waiting = 0] = numbers(reply);
      return { windowStart, subtracted, waiting: waiting === 1 };
    },
  };
}

// ---- group btc-transactions --------------------------------------------------------------------

export interface TrimResult {
  removedByWindow: number;
  removedByCap: number;
  stored: number;
}

export type TransactionsApplyResult = ApplyResult & TrimResult;

type TxConfig = Pick<Config, "REDIS_PREFIX" | "TX_CAP">;

/** lua/applyTransactions-4.lua: each transaction stored as its API view's JSON. */
export function applyTransactions(config: TxConfig, stretch: Stretch, records: readonly TransactionView[], at?: number): ScriptCall<Applied<TransactionsApplyResult>> {
  const args: Arg[] = [clockArg(at), ...stretchArgs(stretch), WINDOW_MINUTES, config.TX_CAP, SEEN_MARGIN_SECONDS, WINDOW_BUDGET, seenKeepSeconds("transactions")];
  for (const r of records) args.push(r.hash, r.time, viewJson(r));
  return {
    name: "applyTransactions",
    keys: [txByTimeKey(config), txBodyPrefix(config), seenKey(config, "transactions"), positionKey(config, "transactions")],
    args,
    parse: (reply) =>
      applied(reply, ([applied = 0, duplicates = 0, stale = 0, removedByWindow = 0, removedByCap = 0, stored = 0]) => ({
        applied,
        duplicates,
        stale,
        removedByWindow,
        removedByCap,
        stored,
      })),
  };
}

/** lua/trimTransactions-2.lua */
export function trimTransactions(config: TxConfig, at?: number): ScriptCall<TrimResult> {
  return {
    name: "trimTransactions",
    keys: [txByTimeKey(config), txBodyPrefix(config)],
    args: [clockArg(at), WINDOW_MINUTES, config.TX_CAP, WINDOW_BUDGET],
    parse: (reply) => {
      const [removedByWindow = 0, removedByCap = 0, stored = 0] = numbers(reply);
      return { removedByWindow, removedByCap, stored };
    },
  };
}

// ---- dropping a projection (bun run rebuild) ---------------------------------------------------

export interface Dropped {
  /** False when an earlier drop's transactions are still being deleted: nothing was dropped (finish that one first). */
  dropped: boolean;
  /** Keys the call deleted. */
  deleted: number;
  /** Transactions whose bodies are left to delete (deleteDroppedTransactions). */
  left: number;
}

/**
 * lua/drop<Group>-N.lua: drops a group's projection, its position included, in one atomic call
 * that never blocks Redis for long. For the transactions group the stored bodies are only set
 * aside (`left`): deleteDroppedTransactions deletes them, a budget a call.
 */
export function dropProjection(config: Prefixed, role: StateRole, shard: Shard = WHOLE): ScriptCall<Dropped> {
  const own = [seenKey(config, role, shard), positionKey(config, role, shard), replayKey(config, role, shard)];
  const parse = (reply: unknown): Dropped => ({ dropped: true, deleted: Number(reply), left: 0 });
  switch (role) {
    case "counts":
      return {
        name: "dropCounts",
        keys: [countsMinutePrefix(config), countsHourPrefix(config), ...own],
        args: ["", MINUTE_BUCKET_KEEP_SECONDS, HOUR_BUCKET_KEEP_SECONDS, 2 * MAX_AHEAD_SECONDS],
        parse,
      };
    case "addresses":
      return { name: "dropAddresses", keys: [...windowKeys(config, shard), ...own], args: [], parse };
    case "transactions":
      return {
        name: "dropTransactions",
        keys: [txByTimeKey(config), txDroppedKey(config), ...own],
        args: [],
        parse: (reply) => {
          const [status, a = 0, b = 0] = reply as [string, number, number];
          return status === "pending" ? { dropped: false, deleted: 0, left: Number(a) } : { dropped: true, deleted: Number(a), left: Number(b) };
        },
      };
  }
}

/**
 * Most bodies of a dropped projection deleted per call: a body costs Redis about 2 µs (ZRANGE,
 * ZMSCORE, UNLINK, ZREMRANGEBYRANK), so a call stays a few ms, and some 10 ms on a loaded 2-core
 * machine, well under the 50 ms goal (bench/drop.bench.ts measures the longest call). 1,000,000
 * stored take 1,000 calls, a few seconds.
 */
export const DROP_BUDGET = 1_000;

/** lua/deleteDroppedTransactions-3.lua: deletes up to `budget` bodies of a dropped projection. */
export function deleteDroppedTransactions(config: Prefixed, budget = DROP_BUDGET): ScriptCall<{ deleted: number; left: number }> {
  return {
    name: "deleteDroppedTransactions",
    keys: [txDroppedKey(config), txByTimeKey(config), txBodyPrefix(config)],
    args: [budget],
    parse: (reply) => {
      const [deleted = 0, left = 0] = numbers(reply);
      return { deleted, left };
    },
  };
}
