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
import type { ProjectionSpec } from "../domain/projection.ts";
import { type Shard, WHOLE } from "../domain/shards.ts";
import type { Transaction } from "../domain/transaction.ts";
import { positionKey, replayKey, versionKey } from "./keys.ts";
import { defineScripts } from "./loader.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;
export type Arg = string | number;

/** A script's name: its file name in lua/ (or lua/<projection>/) without the key count. */
export type ScriptName = string;

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

/** A reply of numbers (integers or their text) as numbers. */
export const numbers = (reply: unknown) => (reply as (number | string)[]).map(Number);
/** "" = Redis's clock. */
export const clockArg = (at: number | undefined): Arg => at ?? "";

/** Sends one script call. */
export async function run<T>(redis: Redis, call: ScriptCall<T>): Promise<T> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[call.name];
  if (!fn) throw new Error(`script ${call.name} is not loaded (lua/${call.name}-<keys>.lua, or lua/<projection>/${call.name}-<keys>.lua)`);
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

/** Reads an apply script's reply: its status, then (when applied) its figures, read by `figures`. */
export function applied<T>(reply: unknown, figures: (n: number[]) => T): Applied<T> {
  const [status, ...rest] = reply as [string, ...(string | number)[]];
  if (status === "moved") return { status, position: String(rest[0]) };
  if (status === "unset") return { status };
  if (status === "wrong_type") return { status, key: String(rest[0]) };
  return { status: "applied", ...figures(rest.map(Number)) };
}

/** A stretch as an apply script's three arguments after `now` (lua/includes/applyArgs.lua). */
export const stretchArgs = (s: Stretch): Arg[] => [s.field, s.from, s.to];

/** The figures every apply script returns first: applied, duplicates, stale. */
export const applyFigures = ([applied = 0, duplicates = 0, stale = 0]: number[]): ApplyResult => ({ applied, duplicates, stale });

/** lua/startReplay-3.lua: the position a partition without one starts from; another process's stands. `coversFromMs` "" = not known yet. */
export function startReplay(
  config: Prefixed,
  spec: Pick<ProjectionSpec, "namespace">,
  field: string,
  from: string,
  until: string,
  coversFromMs: number | "",
  shard: Shard = WHOLE,
): ScriptCall<string> {
  return {
    name: "startReplay",
    keys: [positionKey(config, spec, shard), replayKey(config, spec, shard), versionKey(config, spec, shard)],
    args: [field, from, until, coversFromMs],
    parse: (reply) => String((reply as string[])[1]),
  };
}

// ---- dropping a projection (bun run rebuild) ---------------------------------------------------

// ---- a projection's apply: from transactions to script calls -----------------------------------

/**
 * How a projection applies transactions (its folder's `apply.ts`): each transaction mapped to the
 * projection's record (`record`, for one shard), how many script arguments a record takes
 * (`args`, to cut a batch into calls), and the apply script call of a chunk of records. The
 * consumers (src/consumers/group.ts) and the test kit (tools/testkit/fill.ts) both build their
 * calls from it, so the test kit needs nothing per projection.
 */
export interface ApplyMapping<R = unknown> {
  /** Why the projection refuses a valid transaction (it is dead-lettered with this reason), or null. */
  refuse?(tx: Transaction): string | null;
  record(tx: Transaction, shard: Shard): R;
  args(record: R): number;
  call(config: Config, stretch: Stretch, records: readonly R[], shard: Shard, at?: number): ScriptCall<Applied<ApplyResult>>;
}

/**
 * How a projection drops all it holds, its position included (its folder's `drop.ts`): a few
 * short script calls, `onCall` between them (tests read there, the benchmark times them).
 * Resolves to the keys deleted.
 */
export type DropProjection = (redis: Redis, config: Prefixed, shard: Shard, onCall?: () => Promise<void>) => Promise<number>;

/**
 * Upkeep a projection needs while the feed is idle too (moving a window on, trimming), run on a
 * timer by its consumers (its folder's `upkeep.ts`); idempotent.
 */
export interface Upkeep {
  /** How often it runs, ms. */
  readonly everyMs: number;
  run(redis: Redis, config: Config, shard: Shard): Promise<void>;
}
