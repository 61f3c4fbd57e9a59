/**
 * Loads the Lua scripts in `lua/`, BullMQ style.
 *
 * - `lua/<name>-<numberOfKeys>.lua` is one atomic operation; the key count comes from the name.
 *   A projection keeps its scripts in its own folder, `lua/<projection>/<name>-<numberOfKeys>.lua`;
 *   every script name is one command on the client, so names are unique across folders.
 * - `--- @include "<name>"` inlines `includes/<name>.lua` (one `local function <name>` per file),
 *   looked up first in the script's own folder (`lua/<projection>/includes/`), then in the shared
 *   `lua/includes/`; once per script and in order, includes of includes first. A missing or
 *   circular include is an error naming the chain.
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

/** The text of include `name`: from the first of `dirs` (the script's folder, then lua/) that has `includes/<name>.lua`. */
function readInclude(dirs: readonly string[], name: string): string | undefined {
  for (const dir of dirs) {
    try {
      return readFileSync(join(dir, "includes", `${name}.lua`), "utf8");
    } catch {}
  }
  return undefined;
}

function inline(source: string, file: string, dirs: readonly string[], chain: string[], included: Set<string>): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    if (chain.includes(name)) throw new LuaLoadError(`circular include: ${[...chain, name].join(" -> ")}`);
    if (included.has(name)) return "";
    const body = readInclude(dirs, name);
    if (body === undefined) throw new LuaLoadError(`${file}: include "${name}" not found (looked for includes/${name}.lua; chain ${[...chain, name].join(" -> ")})`);
    const expanded = inline(body, `includes/${name}.lua`, dirs, [...chain, name], included);
    included.add(name);
    return expanded;
  });
}

/** The scripts of one folder (its `.lua` files), includes looked up in `dirs`. */
function scriptsIn(folder: string, label: string, dirs: readonly string[]): LuaScript[] {
  return readdirSync(folder)
    .filter((f) => f.endsWith(".lua"))
    .sort()
    .map((file) => {
      const match = FILE.exec(file);
      if (!match) throw new LuaLoadError(`${label}${file}: a script is named <name>-<numberOfKeys>.lua`);
      const source = readFileSync(join(folder, file), "utf8");
      return { name: match[1] as string, numberOfKeys: Number(match[2]), lua: inline(source, `${label}${file}`, dirs, [], new Set()) };
    });
}

/** Reads every script in `dir` (default `lua/`) and in its projection folders (every subfolder but `includes`). */
export function loadScripts(dir = LUA_DIR): LuaScript[] {
  const folders = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== "includes")
    .map((e) => e.name)
    .sort();
  const all = [...scriptsIn(dir, "", [dir]), ...folders.flatMap((f) => scriptsIn(join(dir, f), `${f}/`, [join(dir, f), dir]))];
  const seen = new Set<string>();
  for (const script of all) {
    if (seen.has(script.name)) throw new LuaLoadError(`two scripts are named ${script.name}: a script name is one command on the client, unique across folders`);
    seen.add(script.name);
  }
  return all;
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
