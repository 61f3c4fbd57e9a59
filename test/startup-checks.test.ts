/**
 * Start-up checks: a role pointed at a Redis that could evict the projections stops at once with
 * one line naming the setting, its value and what is needed; on a Redis that fits, the same
 * check passes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { checkRedis } from "../src/redis/requirements.ts";
import { freePort, startChild } from "../tools/infra/process.ts";
import { testEnv } from "./helpers/env.ts";

const ROOT = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "startup-checks-"));
const env = testEnv();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("start-up checks", () => {
  test("each group's consumer, the producer and the API on a Redis whose maxmemory-policy can evict keys exit 2 with one line saying so", async () => {
    const port = freePort();
    const server = startChild(
      `redis-${port}`,
      ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"],
      {
        logFile: join(dir, "redis.log"),
      },
    );
    try {
      const probe = new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: (n) => (n > 50 ? null : 100) });
      probe.on("error", () => {}); // refused until redis-server listens; ioredis retries
      await probe.ping();
      await expect(checkRedis(probe)).rejects.toThrow(
        "redis: maxmemory-policy is allkeys-lru with maxmemory 104857600: it can evict the projections; set maxmemory-policy noeviction, or no maxmemory",
      );
      probe.disconnect();
      const entries: Record<string, [string, ...string[]]> = {
        ...Object.fromEntries(PROJECTIONS.map((p) => [`consumer-${p.role}`, ["consumer.ts", p.role] as [string, ...string[]]])),
        producer: ["producer.ts"],
        api: ["api.ts"],
      };
      for (const [name, [file, ...args]] of Object.entries(entries)) {
        const role = Bun.spawn([process.execPath, join(ROOT, "src", "roles", file), ...args], {
          cwd: ROOT,
          env: { ...process.env, ...env.env, REDIS_URL: `redis://127.0.0.1:${port}`, PORT: String(freePort()) },
          stdout: "pipe",
          stderr: "pipe",
        });
        const [code, err] = await Promise.all([role.exited, new Response(role.stderr).text()]);
        expect({ name, code, err: err.trim() }).toEqual({
          name,
          code: 2,
          err: "redis: maxmemory-policy is allkeys-lru with maxmemory 104857600: it can evict the projections; set maxmemory-policy noeviction, or no maxmemory",
        });
      }
    } finally {
      await server.stop();
    }
  }, 60_000);

  test("the run's Redis (7.x, no maxmemory) passes", async () => {
    await checkRedis(env.redis);
    expect(Number((await env.redis.info("server")).match(/redis_version:(\d+)/)?.[1])).toBeGreaterThanOrEqual(7);
  });
});
