import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { LuaLoadError, loadScripts } from "../src/redis/loader.ts";
import { testEnv } from "./helpers/env.ts";

const fixtures = join(import.meta.dir, "fixtures");
const { redis, config } = testEnv();

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

  test("every script in lua/ loads", () => {
    for (const script of loadScripts()) {
      expect(script.lua).not.toContain("@include");
      expect(script.numberOfKeys).toBeGreaterThanOrEqual(0);
    }
  });
});
