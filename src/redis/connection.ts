/**
 * The one way every role (and the test kit) connects to Redis, with one policy:
 *   - a command fails rather than waiting for ever: one retry across a reconnect, and at most
 *     REDIS_COMMAND_TIMEOUT_MS for an answer (the caller retries its batch, or answers 503);
 *   - reconnecting backs off from 100 ms to 2 s, for as long as it takes;
 *   - the watchdog (watchdog.ts) replaces a connection that stops answering at all.
 * The API bounds its reads tighter still, per request (src/api/redis.ts).
 *
 * Redis Cluster: a `REDIS_URL` listing several comma-separated seed nodes
 * (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`) is a cluster, reached through ioredis'
 * `Cluster` client, which follows MOVED/ASK redirections and fail-overs by itself. Every key of a
 * script call shares one hash tag (src/redis/keys.ts), so each call stays within one slot.
 *
 * TLS and users: a `rediss://` URL connects over TLS, checking the server's certificate against
 * REDIS_CA_FILE when it is set (the system's authorities otherwise), with REDIS_CERT_FILE and
 * REDIS_KEY_FILE as the client's certificate when the server asks for one. REDIS_USERNAME and
 * REDIS_PASSWORD (or REDIS_PASSWORD_FILE) log in as that ACL user instead of the URL's, so each
 * role's process can run as its own user (tools/infra/acl.ts). Unless the caller passes them,
 * they are this process's configuration, the one its entry point checked at start.
 */
import { readFileSync } from "node:fs";
import Redis, { Cluster, type ClusterNode, type RedisOptions } from "ioredis";
import { type Config, loadConfig } from "../domain/config.ts";
import type { Logger } from "../domain/log.ts";
import { WATCHDOG_TIMEOUT_MS, watchConnection } from "./watchdog.ts";

/**
 * How long a Redis command may go unanswered before it fails. Script calls take milliseconds;
 * this only ends a wait on a connection that will never answer, which the watchdog then replaces.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;

const POLICY: RedisOptions = {
  maxRetriesPerRequest: 1,
  commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
  connectTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
};

/** The seed URLs of `REDIS_URL`: one for a single server, several for a Redis Cluster. */
export const redisSeeds = (url: string): string[] =>
  url
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);

/** The variables of Redis's TLS and user. */
export type RedisSecuritySettings = Pick<Config, "REDIS_CA_FILE" | "REDIS_CERT_FILE" | "REDIS_KEY_FILE" | "REDIS_USERNAME" | "REDIS_PASSWORD">;

const SECURITY_VARIABLES = ["REDIS_CA_FILE", "REDIS_CERT_FILE", "REDIS_KEY_FILE", "REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE"] as const;

/**
 * This process's Redis TLS and user settings for a connection to `url`: its environment's
 * variables of them, read and checked by the configuration's one reading (no other variable).
 */
export function redisSecurityFromEnv(url: string): RedisSecuritySettings {
  const env: Record<string, string | undefined> = { REDIS_URL: url };
  for (const name of SECURITY_VARIABLES) env[name] = process.env[name];
  return loadConfig(env);
}

/** The TLS options of a `rediss://` seed: the CA and client certificate files, read now. */
function tlsOptions(settings: Partial<RedisSecuritySettings>): RedisOptions["tls"] {
  const read = (path: string | undefined) => (path ? readFileSync(path, "utf8") : undefined);
  const [ca, cert, key] = [read(settings.REDIS_CA_FILE), read(settings.REDIS_CERT_FILE), read(settings.REDIS_KEY_FILE)];
  return { ...(ca ? { ca: [ca] } : {}), ...(cert ? { cert, key } : {}) };
}

/** A seed URL without its user and password when the settings name their own (ioredis prefers the URL's). */
function seedFor(seed: string, settings: Partial<RedisSecuritySettings>): string {
  if (!settings.REDIS_USERNAME && !settings.REDIS_PASSWORD) return seed;
  const u = new URL(seed);
  u.username = "";
  u.password = "";
  return u.toString();
}

/** ioredis options for `settings`: TLS for a rediss:// URL, the user and password when set. */
export function redisSecurityOptions(url: string, settings: Partial<RedisSecuritySettings>): RedisOptions {
  return {
    ...(url.trim().startsWith("rediss://") ? { tls: tlsOptions(settings) } : {}),
    ...(settings.REDIS_USERNAME ? { username: settings.REDIS_USERNAME } : {}),
    ...(settings.REDIS_PASSWORD ? { password: settings.REDIS_PASSWORD } : {}),
  };
}

/**
 * Connects to `url`; connection errors go to `log` (at most one line per interval), or nowhere.
 * `settings` are the TLS files and the user (default: this process's configuration).
 */
export function connectRedis(url: string, log?: Logger, settings: Partial<RedisSecuritySettings> = redisSecurityFromEnv(url)): Redis {
  const seeds = redisSeeds(url).map((seed) => seedFor(seed, settings));
  const redis = seeds.length > 1 ? connectCluster(seeds, settings) : new Redis(seeds[0] as string, { ...POLICY, ...redisSecurityOptions(url, settings) });
  redis.on("error", (err: Error) => log?.limited("redis:error", "warn", `redis: ${err.message}`));
  // ioredis' Cluster keeps one connection per node and replaces them on its own; the watchdog
  // watches the one connection of a single server.
  if (redis instanceof Redis) watchConnection(redis, () => log?.warn(`redis: no answer within ${WATCHDOG_TIMEOUT_MS} ms; replacing the connection`));
  return redis;
}

/**
 * A Redis Cluster client from its seed URLs (credentials and TLS from the first). It is typed as
 * `Redis`: it answers the same commands, and every command the service sends names keys of one
 * slot. Only cluster-wide commands differ (a SCAN reaches one node), and the service sends none.
 */
function connectCluster(seeds: string[], settings: Partial<RedisSecuritySettings>): Redis {
  const nodes: ClusterNode[] = seeds.map((seed) => {
    const u = new URL(seed);
    return { host: u.hostname, port: Number(u.port || 6379) };
  });
  const first = new URL(seeds[0] as string);
  const cluster = new Cluster(nodes, {
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    // During a fail-over the slot's new master takes a few seconds to be elected.
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 300,
    retryDelayOnTryAgain: 300,
    redisOptions: {
      ...POLICY,
      username: decodeURIComponent(first.username) || undefined,
      password: decodeURIComponent(first.password) || undefined,
      tls: first.protocol === "rediss:" ? {} : undefined,
      ...redisSecurityOptions(seeds[0] as string, settings),
    },
  });
  return cluster as unknown as Redis;
}
