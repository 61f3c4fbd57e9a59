/**
 * Loads the Lua scripts in `lua/`, BullMQ style.
 *
 * - `lua/<name>-<numberOfKeys>.lua` is one atomic operation; the key count comes from the name.
 * - `--- @include "<name>"` inlines `lua/includes/<name>.lua` (one `local function <name>` per
 *   file), once per script and in order, includes of includes first. A missing or circular
 *   include is an error naming the chain.
 * - `defineScripts(redis)` registers every script on an ioredis client (`defineCommand`:
 *   EVALSHA, with EVAL on NOSCRIPT), once per client.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type Redis from "ioredis";

export const LUA_DIR = join(import.meta.dir, "..", "..", "lua");

export interface LuaScript {
  /** Command name on the ioredis client: the file name without the key count. */
  readonly name: string;
  readonly numberOfKeys: number;
  /** Source with its includes inlined. */
  readonly lua: string;
}

const INCLUDE = /^--- @include "([A-Za-z0-9_]+)"\s*$/gm;
const FILE = /^([A-Za-z][A-Za-z0-9]*)-(\d+)\.lua$/;

export class LuaLoadError extends Error {
  override name = "LuaLoadError";
}

function inline(source: string, file: string, dir: string, chain: string[], included: Set<string>): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    if (chain.includes(name)) throw new LuaLoadError(`circular include: ${[...chain, name].join(" -> ")}`);
    if (included.has(name)) return "";
    let body: string;
    try {
      body = readFileSync(join(dir, "includes", `${name}.lua`), "utf8");
    } catch {
      throw new LuaLoadError(`${file}: include "${name}" not found (looked for includes/${name}.lua; chain ${[...chain, name].join(" -> ")})`);
    }
    const expanded = inline(body, `includes/${name}.lua`, dir, [...chain, name], included);
    included.add(name);
    return expanded;
  });
}

/** Reads every script in `dir` (default `lua/`). */
export function loadScripts(dir = LUA_DIR): LuaScript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".lua"))
    .sort()
    .map((file) => {
      const match = FILE.exec(file);
      if (!match) throw new LuaLoadError(`${file}: a script is named <name>-<numberOfKeys>.lua`);
      const source = readFileSync(join(dir, file), "utf8");
      return { name: match[1] as string, numberOfKeys: Number(match[2]), lua: inline(source, file, dir, [], new Set()) };
    });
}

let cached: LuaScript[] | undefined;
const defined = new WeakSet<Redis>();

/** Registers every script in `lua/` on `redis` as a command (idempotent per client). */
export function defineScripts(redis: Redis): Redis {
  if (defined.has(redis)) return redis;
  cached ??= loadScripts();
  for (const script of cached) redis.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  defined.add(redis);
  return redis;
}
