/**
 * A local redis-server, started when REDIS_URL names a localhost port where nothing answers.
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { MissingToolError } from "./kafka.ts";
import { type Child, cacheDir, startChild, waitUntil, which } from "./process.ts";

export interface LocalRedis {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder (after `stop` or `kill`); for fault tests. */
  restart(): Promise<void>;
  /** SIGKILL: gone at once, nothing saved (what a crash does); for fault tests. */
  kill(): Promise<void>;
}

export interface StartRedisOptions {
  port: number;
  /** Data folder; defaults to `.cache/redis-data/<port>`. */
  dataDir?: string;
  /** Append-only file on (fault tests that restart Redis need it); off by default. */
  persist?: boolean;
}

export async function pingRedis(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function startRedis(opts: StartRedisOptions): Promise<LocalRedis> {
  const server = which("redis-server");
  if (!server) throw new MissingToolError("redis-server not found: install it (Debian: apt-get install redis-server), or point REDIS_URL at a running Redis.");
  const dataDir = opts.dataDir ?? cacheDir("redis-data", String(opts.port));
  mkdirSync(dataDir, { recursive: true });
  const url = `redis://127.0.0.1:${opts.port}`;
  const logFile = join(dataDir, "redis.log");
  const args = [
    server,
    "--port",
    String(opts.port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dataDir,
    "--save",
    "",
    "--appendonly",
    opts.persist ? "yes" : "no",
    "--appendfsync",
    "everysec",
    "--daemonize",
    "no",
  ];
  let child: Child;
  const launch = async () => {
    child = startChild(`redis-${opts.port}`, args, { logFile });
    await waitUntil(`redis-server on port ${opts.port}`, () => pingRedis(url), 15_000, child, logFile);
  };
  await launch();
  return {
    url,
    port: opts.port,
    dataDir,
    stop: () => child.stop(),
    restart: launch,
    kill: async () => {
      child.proc.kill("SIGKILL");
      await child.proc.exited;
    },
  };
}
