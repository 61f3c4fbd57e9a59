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
 */
import Redis, { Cluster, type ClusterNode, type RedisOptions } from "ioredis";
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

/** Connects to `url`; connection errors go to `log` (at most one line per interval), or nowhere. */
export function connectRedis(url: string, log?: Logger): Redis {
  const seeds = redisSeeds(url);
  const redis = seeds.length > 1 ? connectCluster(seeds) : new Redis(url, POLICY);
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
function connectCluster(seeds: string[]): Redis {
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
    },
  });
  return cluster as unknown as Redis;
}
