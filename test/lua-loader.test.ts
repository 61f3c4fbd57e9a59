import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_SATOSHI } from "../src/domain/transaction.ts";
import { LUA_DIR, LuaLoadError, loadScripts } from "../src/redis/loader.ts";
import { SCRIPT_ERRORS } from "../src/redis/scripts.ts";
import { testEnv } from "./helpers/env.ts";

const fixtures = join(import.meta.dir, "fixtures");
const { redis, config } = testEnv();

/** SCRIPT_ERRORS as name -> code. */
const errorCodes = new Map(Object.entries(SCRIPT_ERRORS).map(([code, e]) => [e.name, Number(code)]));

/**
 * Where the scripts in `dir` disagree with SCRIPT_ERRORS: the names and codes of
 * includes/scriptError.lua, the `-<code> <NAME>` lines of each script's header comment, the
 * names the script returns (`scriptError("<NAME>")`, its includes inlined), a bare `return -<n>`,
 * and a code of the table that no header names.
 */
function errorNamingProblems(dir: string): string[] {
  const problems: string[] = [];
  const include = readFileSync(join(dir, "includes", "scriptError.lua"), "utf8");
  const luaCodes = new Map([...include.matchAll(/\b([A-Z][A-Z_]*) = (-\d+)/g)].map(([, name, code]) => [name as string, Number(code)]));
  for (const [name, code] of errorCodes) if (luaCodes.get(name) !== code) problems.push(`includes/scriptError.lua: ${name} is ${luaCodes.get(name) ?? "missing"}, not ${code}`);
  for (const [name, code] of luaCodes) if (!errorCodes.has(name)) problems.push(`includes/scriptError.lua: ${name} (${code}) is not in SCRIPT_ERRORS`);
  const named = new Set<string>();
  for (const script of loadScripts(dir)) {
    const file = `${script.name}-${script.numberOfKeys}.lua`;
    const header = /^--\[\[([\s\S]*?)\]\]/.exec(readFileSync(join(dir, file), "utf8"))?.[1] ?? "";
    const listed = new Set<string>();
    for (const [, code, name = ""] of header.matchAll(/^\s+(-\d+) ([A-Z][A-Z_]*)\b/gm)) {
      if (errorCodes.get(name) !== Number(code)) problems.push(`${file}: its header names ${code} ${name}, SCRIPT_ERRORS has ${name} as ${errorCodes.get(name) ?? "nothing"}`);
      listed.add(name);
      named.add(name);
    }
    const returned = new Set([...script.lua.matchAll(/scriptError\("([^"]*)"\)/g)].map(([, name]) => name as string));
    for (const name of returned) if (!listed.has(name)) problems.push(`${file}: returns ${name}, which its header does not list`);
    for (const name of listed) if (!returned.has(name)) problems.push(`${file}: its header lists ${name}, which it never returns`);
    if (/\breturn\s+-\s*\d/.test(script.lua)) problems.push(`${file}: returns a bare code, not scriptError("<NAME>")`);
  }
  for (const name of errorCodes.keys()) if (!named.has(name)) problems.push(`SCRIPT_ERRORS: ${name} is named by no script header`);
  return problems;
}

describe("Lua loader", () => {
  test("reads the key count from the file name and inlines includes once, in order", () => {
    const [script] = loadScripts(join(fixtures, "lua"));
    expect(script?.name).toBe("addTwice");
    expect(script?.numberOfKeys).toBe(1);
    const lua = script?.lua ?? "";
    expect(lua).not.toContain("@include");
    expect(lua.indexOf("local function toNumber")).toBeLessThan(lua.indexOf("local function addOnce"));
    expect(lua.match(/local function toNumber/g)?.length).toBe(1);
  });

  test("a circular include is an error naming the chain", () => {
    expect(() => loadScripts(join(fixtures, "lua-bad"))).toThrow(new LuaLoadError("circular include: a -> b -> a"));
  });

  test("a missing include is an error naming the file", () => {
    expect(() => loadScripts(join(fixtures, "lua-missing"))).toThrow(/lost-0\.lua: include "nowhere" not found/);
  });

  test("ioredis runs a script loaded from a folder, through EVALSHA", async () => {
    const [script] = loadScripts(join(fixtures, "lua"));
    if (!script) throw new Error("no fixture script");
    redis.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
    const key = `{${config.REDIS_PREFIX}}:counter`;
    const run = (redis as unknown as Record<string, (k: string, a: number) => Promise<number>>)[script.name];
    expect(await run?.call(redis, key, 5)).toBe(10);
    expect(await run?.call(redis, key, 1)).toBe(12);
    expect(await redis.get(key)).toBe("12");
  });

  test("error codes are named once: includes/scriptError.lua, every script header and what each script returns agree with SCRIPT_ERRORS", () => {
    expect(errorNamingProblems(LUA_DIR)).toEqual([]);
  });

  test("a header, a Lua table or a return that disagrees with SCRIPT_ERRORS is found", () => {
    expect(errorNamingProblems(join(fixtures, "lua-errors"))).toEqual([
      "includes/scriptError.lua: NOT_A_NUMBER is -5, not -2",
      "includes/scriptError.lua: NOT_A_COUNT is missing, not -3",
      "includes/scriptError.lua: OUT_OF_RANGE is missing, not -4",
      "includes/scriptError.lua: EXTRA (-9) is not in SCRIPT_ERRORS",
      "wrongHeader-0.lua: its header names -3 NOT_A_NUMBER, SCRIPT_ERRORS has NOT_A_NUMBER as -2",
      "wrongHeader-0.lua: its header names -7 NO_SUCH, SCRIPT_ERRORS has NO_SUCH as nothing",
      "wrongHeader-0.lua: returns NOT_A_COUNT, which its header does not list",
      "wrongHeader-0.lua: its header lists BAD_RECORDS, which it never returns",
      "wrongHeader-0.lua: its header lists NO_SUCH, which it never returns",
      'wrongHeader-0.lua: returns a bare code, not scriptError("<NAME>")',
      "SCRIPT_ERRORS: NOT_A_COUNT is named by no script header",
      "SCRIPT_ERRORS: OUT_OF_RANGE is named by no script header",
    ]);
  });

  test("lua/includes/scriptError.lua returns the code of each name of SCRIPT_ERRORS, and refuses a name it does not have", async () => {
    const include = readFileSync(join(LUA_DIR, "includes", "scriptError.lua"), "utf8");
    const lua = `${include}\nreturn scriptError(ARGV[1])`;
    for (const [name, code] of errorCodes) expect(await redis.eval(lua, 0, name)).toBe(code);
    await expect(redis.eval(lua, 0, "NO_SUCH")).rejects.toThrow(/no error named NO_SUCH/);
  });

  test("lua/includes/bounds.lua: 21 million BTC as src/domain/transaction.ts has it, 2^53, and an int64 bound below 2^63 - 1", async () => {
    const include = readFileSync(join(LUA_DIR, "includes", "bounds.lua"), "utf8");
    const [max, double, int64] = (await redis.eval(
      `${include}\nlocal b = bounds()\nlocal f = function(n) return string.format("%.0f", n) end\nreturn { f(b.MAX_SATOSHI), f(b.EXACT_DOUBLE), f(b.EXACT_INT64) }`,
      0,
    )) as string[];
    expect(BigInt(max as string)).toBe(BigInt(MAX_SATOSHI));
    expect(BigInt(double as string)).toBe(2n ** 53n);
    const bound = BigInt(int64 as string);
    expect(bound).toBeLessThan(2n ** 63n - 1n);
    // The margin is far above the rounding of a double near 2^63 (2,048) times the additions of a check.
    expect(2n ** 63n - 1n - bound).toBeGreaterThan(10n ** 15n);
  });

  test("every script in lua/ loads", () => {
    for (const script of loadScripts()) {
      expect(script.lua).not.toContain("@include");
      expect(script.numberOfKeys).toBeGreaterThanOrEqual(0);
    }
  });
});
