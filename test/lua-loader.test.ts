import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { MAX_SATOSHI } from "../src/domain/transaction.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { LUA_DIR, LuaLoadError, loadScripts } from "../src/redis/loader.ts";
import { SCRIPT_ERRORS } from "../src/redis/scripts.ts";
import { testEnv } from "./helpers/env.ts";

const fixtures = join(import.meta.dir, "fixtures");
const { redis, config } = testEnv();

/** Folders of Lua written by the tests below (a layout is files, so each test builds its own). */
const scratch = mkdtempSync(join(tmpdir(), "lua-loader-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let folders = 0;
/** A new folder holding `files` (path relative to it -> text). */
function luaFolder(files: Record<string, string>): string {
  const dir = join(scratch, String(++folders));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** The projection folders of a Lua folder: every subfolder but `includes` (what the loader reads besides the top). */
const projectionFolders = (dir: string) =>
  readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== "includes")
    .map((e) => e.name)
    .sort();

/** Every script file of a Lua folder, at the top and in its projection folders, as `<folder>/<file>` (the top's as `<file>`). */
const scriptFiles = (dir: string) =>
  [dir, ...projectionFolders(dir).map((f) => join(dir, f))].flatMap((folder) =>
    readdirSync(folder)
      .filter((f) => f.endsWith(".lua"))
      .map((f) => relative(dir, join(folder, f))),
  );

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
  // A projection folder may keep includes of its own: none of them may define error codes apart.
  for (const folder of projectionFolders(dir))
    if (existsSync(join(dir, folder, "includes", "scriptError.lua"))) problems.push(`${folder}/includes/scriptError.lua: error codes are named in includes/scriptError.lua only`);
  // Where each script's file is: at the top or in its projection's folder (names are unique across folders).
  const files = scriptFiles(dir);
  const named = new Set<string>();
  for (const script of loadScripts(dir)) {
    const file = files.find((path) => basename(path) === `${script.name}-${script.numberOfKeys}.lua`);
    if (file === undefined) throw new Error(`${script.name}: loaded, but no file ${script.name}-${script.numberOfKeys}.lua in ${dir} or its projection folders`);
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

  test("every script in lua/ loads, those of the projection folders (lua/<name>/) too", () => {
    const scripts = loadScripts();
    for (const script of scripts) {
      expect(script.lua).not.toContain("@include");
      expect(script.numberOfKeys).toBeGreaterThanOrEqual(0);
    }
    // One script per file, at the top and in every projection folder: nothing left unread.
    const files = scriptFiles(LUA_DIR);
    expect(scripts.map((s) => `${s.name}-${s.numberOfKeys}.lua`).sort()).toEqual(files.map((f) => basename(f)).sort());
    expect(files.some((f) => !f.includes("/"))).toBe(true); // the shared scripts stay at the top
    // Each projection of the registry keeps its Lua in its own folder, lua/<role>/, and it loads.
    for (const { role } of PROJECTIONS) {
      const own = files.filter((f) => dirname(f) === role);
      expect({ role, scripts: own.length > 0 }).toEqual({ role, scripts: true });
      for (const file of own) expect(scripts.some((s) => `${s.name}-${s.numberOfKeys}.lua` === basename(file))).toBe(true);
    }
  });

  test("a projection folder's script inlines its own includes first, then the shared lua/includes/", () => {
    const dir = luaFolder({
      "includes/shared.lua": 'local function shared() return "shared" end',
      "includes/both.lua": 'local function both() return "top" end',
      "top-0.lua": '--- @include "both"\nreturn both()',
      "proj/includes/own.lua": '--- @include "shared"\nlocal function own() return shared() end',
      "proj/includes/both.lua": 'local function both() return "own" end',
      "proj/inFolder-2.lua": '--- @include "own"\n--- @include "both"\n--- @include "shared"\nreturn { own(), both() }',
      "includes/ignored-0.lua": "return 1", // lua/includes/ holds includes, not scripts
    });
    const scripts = loadScripts(dir);
    expect(scripts.map((s) => [s.name, s.numberOfKeys])).toEqual([
      ["top", 0],
      ["inFolder", 2],
    ]);
    const [top, inFolder] = scripts.map((s) => s.lua);
    expect(top).toContain('return "top"');
    expect(top).not.toContain('return "own"');
    // Its own `both` (not the shared one); `shared` from lua/includes/, once, before the include that needs it.
    expect(inFolder).toContain('return "own"');
    expect(inFolder).not.toContain('return "top"');
    expect(inFolder?.match(/local function shared/g)?.length).toBe(1);
    expect(inFolder?.indexOf("local function shared")).toBeLessThan(inFolder?.indexOf("local function own") ?? -1);
    expect(inFolder).not.toContain("@include");
  });

  test("a projection's script cannot include another projection's include", () => {
    const dir = luaFolder({
      "includes/shared.lua": "local function shared() return 1 end",
      "one/includes/mine.lua": "local function mine() return 1 end",
      "one/usesMine-0.lua": '--- @include "mine"\nreturn mine()',
      "two/borrows-0.lua": '--- @include "mine"\nreturn mine()',
    });
    expect(() => loadScripts(dir)).toThrow(new LuaLoadError('two/borrows-0.lua: include "mine" not found (looked for includes/mine.lua; chain mine)'));
  });

  test("two scripts of one name are refused, in two projection folders or at the top and in a folder: a name is one command on the client", () => {
    const twoFolders = luaFolder({ "one/twin-1.lua": "return 1", "two/twin-2.lua": "return 2", "two/other-0.lua": "return 3" });
    expect(() => loadScripts(twoFolders)).toThrow(LuaLoadError);
    expect(() => loadScripts(twoFolders)).toThrow(/two scripts are named twin\b/);
    const topAndFolder = luaFolder({ "twin-0.lua": "return 1", "one/twin-0.lua": "return 2" });
    expect(() => loadScripts(topAndFolder)).toThrow(/two scripts are named twin\b/);
    // The same names apart load.
    expect(loadScripts(luaFolder({ "one/first-1.lua": "return 1", "two/second-1.lua": "return 2" })).map((s) => s.name)).toEqual(["first", "second"]);
  });

  test("the real lua/ has no name twice across its folders", () => {
    const names = scriptFiles(LUA_DIR).map((f) => /^([^-]+)-\d+\.lua$/.exec(basename(f))?.[1]);
    expect(new Set(names).size).toBe(names.length);
  });

  test("the error-naming check reads the projection folders: a script there that disagrees is found, under its folder", () => {
    const dir = luaFolder({});
    cpSync(join(fixtures, "lua-errors", "includes"), join(dir, "includes"), { recursive: true });
    cpSync(join(fixtures, "lua-errors", "wrongHeader-0.lua"), join(dir, "proj", "wrongHeader-0.lua"));
    mkdirSync(join(dir, "other", "includes"), { recursive: true });
    writeFileSync(join(dir, "other", "includes", "scriptError.lua"), readFileSync(join(LUA_DIR, "includes", "scriptError.lua")));
    expect(errorNamingProblems(dir)).toEqual([
      "includes/scriptError.lua: NOT_A_NUMBER is -5, not -2",
      "includes/scriptError.lua: NOT_A_COUNT is missing, not -3",
      "includes/scriptError.lua: OUT_OF_RANGE is missing, not -4",
      "includes/scriptError.lua: EXTRA (-9) is not in SCRIPT_ERRORS",
      "other/includes/scriptError.lua: error codes are named in includes/scriptError.lua only",
      "proj/wrongHeader-0.lua: its header names -3 NOT_A_NUMBER, SCRIPT_ERRORS has NOT_A_NUMBER as -2",
      "proj/wrongHeader-0.lua: its header names -7 NO_SUCH, SCRIPT_ERRORS has NO_SUCH as nothing",
      "proj/wrongHeader-0.lua: returns NOT_A_COUNT, which its header does not list",
      "proj/wrongHeader-0.lua: its header lists BAD_RECORDS, which it never returns",
      "proj/wrongHeader-0.lua: its header lists NO_SUCH, which it never returns",
      'proj/wrongHeader-0.lua: returns a bare code, not scriptError("<NAME>")',
      "SCRIPT_ERRORS: NOT_A_COUNT is named by no script header",
      "SCRIPT_ERRORS: OUT_OF_RANGE is named by no script header",
    ]);
  });
});
