/**
 * Readability: the `redis-cli` binary runs every command of docs/redis-keys.md against a running
 * pipeline (simulator, producer, consumers), and every line it prints is text: a number, a
 * transaction hash, a Bitcoin address, a field name or JSON. The doc's concrete keys (a minute, a
 * hash) are swapped for keys of the same family that exist in this run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { keyPrefix } from "../src/redis/keys.ts";
import { bounded, testEnv } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

const env = testEnv();
const p = new Pipeline(env, "redis-cli");
const DOC = readFileSync(join(import.meta.dir, "..", "docs", "redis-keys.md"), "utf8");

beforeAll(async () => {
  await p.feed({ rate: 100, seed: 81 });
  p.spawnAll();
  await Bun.sleep(3_000);
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

  test("the doc shows a session for every key family", () => {
    const families = [
      "position",
      "replay",
      "seen",
      "counts:minute",
      "counts:hour",
      "addresses:received",
      "addresses:minutes",
      "addresses:window",
      "transactions:by-time",
      "metrics",
    ];
    for (const f of families) expect(commands.some((c) => c.some((a) => a.includes(`{btc}:${f}`) || a.includes(`:${f}`)))).toBe(true);
    expect(commands.length).toBeGreaterThanOrEqual(12);
  });

  test("every command runs in redis-cli and prints only text: numbers, hashes, addresses, field names, JSON", async () => {
    const url = new URL(env.config.REDIS_URL);
    for (const command of commands) {
      const args = await Promise.all(command.map(concrete));
      const proc = Bun.spawn(["redis-cli", "-h", url.hostname, "-p", url.port, ...args], { stdout: "pipe", stderr: "pipe" });
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
