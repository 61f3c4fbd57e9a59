/**
 * Readability: the `redis-cli` binary runs every command of docs/redis-keys.md (and of each
 * registered projection's own doc, src/projections/<role>/README.md, where it has one) against a
 * running pipeline (simulator, producer, every group of the registry), and every line it prints is
 * text: a number, a transaction hash, a Bitcoin address, a field name or JSON. The doc's concrete
 * keys (a minute, a hash) are swapped for keys of the same family that exist in this run. Every
 * family of key the run holds has a session in the docs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { groupPrefix, keyPrefix, positionKey, replayKey, seenKey, versionKey } from "../src/redis/keys.ts";
import { bounded, roleEnv, testEnv, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

const env = testEnv();
const p = new Pipeline(env, "redis-cli");
const ROOT = join(import.meta.dir, "..");
/** docs/redis-keys.md, then the README.md of each projection of the registry (its part of the docs, src/projections/<role>/), where it has one. */
const DOC = [join(ROOT, "docs", "redis-keys.md"), ...PROJECTIONS.map(({ role }) => join(ROOT, "src", "projections", role, "README.md")).filter((f) => existsSync(f))]
  .map((f) => readFileSync(f, "utf8"))
  .join("\n");

beforeAll(async () => {
  await p.feed({ rate: 100, seed: 81 });
  p.spawnAll();
  // Some 3 s of the feed, as the producer delivers it: settling an empty feed would prove nothing
  // (a loaded machine can take longer than that to start the producer).
  await waitFor("the feed to deliver 300 transactions", () => p.frames.length >= 300);
  await p.settle();
}, 180_000);

afterAll(async () => {
  await bounded("stopping the pipeline", () => p.stop(), 40_000);
});

/** The arguments of a `$ redis-cli ...` line (single-quoted words as one). */
const words = (line: string) => [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");

/** A doc key made concrete: `{btc}` becomes this run's prefix; a minute or hash in it, one of this run's. */
async function concrete(arg: string): Promise<string> {
  if (!arg.includes("{btc}:")) return arg;
  const key = arg.replace("{btc}:", keyPrefix(env.config));
  const pattern = key.replace(/\b\d{10}\b/, "[0-9]".repeat(10)).replace(/\b[0-9a-f]{64}\b/, "?".repeat(64));
  if (pattern === key) return key;
  let cursor = "0";
  do {
    const [next, found] = await env.redis.scan(cursor, "MATCH", pattern, "COUNT", 10_000);
    if (found[0]) return found[0];
    cursor = next;
  } while (cursor !== "0");
  throw new Error(`no key of the family ${pattern}`);
}

const ADDRESS = /^(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{8,87})$/;
const isText = (line: string): boolean => {
  if (/^-?\d+(\.\d+)?$/.test(line)) return true; // a number: count, satoshi, offset, time
  if (/^[0-9a-f]{64}$/.test(line)) return true; // a transaction hash
  if (ADDRESS.test(line)) return true;
  if (/^[a-z][a-z0-9_.:-]*$/i.test(line)) return true; // a field name: count, <topic>:<partition>:until, a metric
  try {
    return typeof JSON.parse(line) === "object";
  } catch {
    return false;
  }
};

describe("docs/redis-keys.md in redis-cli", () => {
  const commands = DOC.split("\n")
    .filter((l) => l.startsWith("$ redis-cli "))
    .map((l) => words(l.slice("$ redis-cli ".length)));

  test("the doc shows a session for every key family", async () => {
    // The families of key this run holds: the shared ones of each group (its position, replay,
    // seen set and version), and each projection's own, named without their minute, hour or hash.
    const prefix = keyPrefix(env.config);
    const sharedOf = new Map<string, string>();
    for (const projection of PROJECTIONS) {
      const keys = {
        position: positionKey(env.config, projection),
        replay: replayKey(env.config, projection),
        seen: seenKey(env.config, projection),
        version: versionKey(env.config, projection),
      };
      for (const [family, key] of Object.entries(keys)) sharedOf.set(key, family);
    }
    const familyOf = (key: string) => sharedOf.get(key) ?? key.slice(prefix.length).replace(/:(\d{10}|[0-9a-f]{64})$/, "");
    const held = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await env.redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 10_000);
      for (const key of keys) held.add(familyOf(key));
      cursor = next;
    } while (cursor !== "0");
    // The run holds the shared families and the metrics, and keys of every projection of the registry besides those.
    const shared = ["position", "replay", "seen", "version", "metrics"];
    for (const f of shared) expect(held).toContain(f);
    const owns = PROJECTIONS.map(({ role, ...spec }) => ({ role, own: groupPrefix(env.config, spec).slice(prefix.length) }));
    for (const { role, own } of owns) expect({ role, holds: [...held].some((f) => f.startsWith(own)) }).toEqual({ role, holds: true });
    // Each of those has a session: the shared families (shown for one group), and every family of every projection.
    const required = [...shared, ...[...held].filter((f) => owns.some(({ own }) => f.startsWith(own)))];
    const shown = (f: string) => commands.some((c) => c.some((a) => a.includes(`{btc}:${f}`) || a.includes(`:${f}`)));
    expect(required.filter((f) => !shown(f)).sort()).toEqual([]);
    expect(commands.length).toBeGreaterThanOrEqual(12);
  });

  test("every command runs in redis-cli and prints only text: numbers, hashes, addresses, field names, JSON", async () => {
    const url = new URL(env.config.REDIS_URL);
    // As the API's read-only user: what an operator reading the projections needs (the password through the environment, not the command line).
    const api = roleEnv("api");
    const login = { REDISCLI_AUTH: readFileSync(api.REDIS_PASSWORD_FILE as string, "utf8").trim() };
    for (const command of commands) {
      const args = await Promise.all(command.map(concrete));
      const proc = Bun.spawn(["redis-cli", "-h", url.hostname, "-p", url.port, "--user", api.REDIS_USERNAME as string, ...args], {
        env: { ...process.env, ...login },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, bytes] = await Promise.all([proc.exited, new Response(proc.stdout).arrayBuffer()]);
      expect({ args, code }).toEqual({ args, code: 0 });
      // Valid UTF-8, no control characters.
      const out = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      const lines = out.split("\n").filter(Boolean);
      expect({ args, empty: lines.length === 0 }).toEqual({ args, empty: false });
      for (const line of lines) expect({ args, line, text: isText(line) }).toEqual({ args, line, text: true });
    }
  }, 60_000);
});
