/**
 * A local redis-server, started when REDIS_URL names a localhost port where nothing answers.
 */

import { mkdirSync, readFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import Redis from "ioredis";
import { type RedisSecuritySettings, redisSecurityOptions } from "../../src/redis/connection.ts";
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
  /**
   * TLS only (`--tls-port`, `--port 0`): the server's certificate and key, and the CA that client
   * certificates are checked against when a client gives one (`--tls-auth-clients optional`).
   */
  tls?: { cert: string; key: string; ca: string };
  /** An ACL file (`--aclfile`, tools/infra/acl.ts); its users are then the only way in. */
  aclFile?: string;
}

/**
 * Whether a Redis server answers a PING on 127.0.0.1:`port` (over TLS when `ca` is given): any
 * reply counts, `-NOAUTH` too, so a server whose default user is off is seen as up.
 */
export function redisAnswers(port: number, ca?: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((done) => {
    const socket = ca ? connectTls({ host: "127.0.0.1", port, ca: [readFileSync(ca, "utf8")] }) : connectTcp({ host: "127.0.0.1", port });
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    // A timer of its own: a socket's idle timeout did not always fire under Bun.
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once(ca ? "secureConnect" : "connect", () => socket.write("PING\r\n"));
    socket.once("data", (chunk: Buffer) => finish(chunk[0] === 0x2b || chunk[0] === 0x2d));
    socket.once("error", () => finish(false));
  });
}

/**
 * Whether a Redis server answers at `url`: PONG, or a refusal of the user (NOAUTH, WRONGPASS,
 * NOPERM), which is an answer too. Over TLS for a rediss:// URL, with `settings`' CA and user
 * (src/redis/connection.ts; default: none, the system's authorities).
 */
export async function pingRedis(url: string, settings: Partial<RedisSecuritySettings> = {}): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
    // The PING below is the check: a server that refuses the user answers it (NOAUTH) too.
    enableReadyCheck: false,
    ...redisSecurityOptions(url, settings),
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch (err) {
    return /^(NOAUTH|WRONGPASS|NOPERM)/.test(err instanceof Error ? err.message : "");
  } finally {
    client.disconnect();
  }
}

export async function startRedis(opts: StartRedisOptions): Promise<LocalRedis> {
  const server = which("redis-server");
  if (!server) throw new MissingToolError("redis-server not found: install it (Debian: apt-get install redis-server), or point REDIS_URL at a running Redis.");
  const dataDir = opts.dataDir ?? cacheDir("redis-data", String(opts.port));
  mkdirSync(dataDir, { recursive: true });
  const url = `${opts.tls ? "rediss" : "redis"}://127.0.0.1:${opts.port}`;
  const logFile = join(dataDir, "redis.log");
  const listen = opts.tls
    ? [
        "--port",
        "0",
        "--tls-port",
        String(opts.port),
        "--tls-cert-file",
        opts.tls.cert,
        "--tls-key-file",
        opts.tls.key,
        "--tls-ca-cert-file",
        opts.tls.ca,
        "--tls-auth-clients",
        "optional",
      ]
    : ["--port", String(opts.port)];
  const args = [
    server,
    ...listen,
    ...(opts.aclFile ? ["--aclfile", opts.aclFile] : []),
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
    const ready = opts.tls || opts.aclFile ? () => redisAnswers(opts.port, opts.tls?.ca) : () => pingRedis(url);
    await waitUntil(`redis-server on port ${opts.port}`, ready, 15_000, child, logFile);
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
