/**
 * What the projections need of a Redis server, checked by every role at start, so a server that
 * would silently misbehave stops the role with one line instead:
 *   - version 7.0 or later (the scripts use EXPIRE ... NX / GT, ZMSCORE, and TIME in scripts
 *     that write);
 *   - nothing evicted: `maxmemory-policy noeviction`, or no `maxmemory` at all. An evicted key
 *     would be a silent hole in a projection, with its position still saying it is there.
 * Read from INFO, which managed Redis services allow where CONFIG is often disabled.
 *
 * A Redis that refuses the settings stops the role the same way: the user or password
 * (WRONGPASS, NOAUTH: REDIS_USERNAME, REDIS_PASSWORD / REDIS_PASSWORD_FILE) or a server
 * certificate that REDIS_CA_FILE does not trust. The line names the setting and quotes what Redis
 * (or the TLS handshake) answered, never the password. A Redis that is only away gives no such
 * line: the role retries it as usual.
 */
import type Redis from "ioredis";

export class RedisRequirementError extends Error {
  override name = "RedisRequirementError";
}

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();

/** The TLS handshake's codes for a server certificate the client does not trust (or that is not for the host). */
const UNTRUSTED =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_\w+|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** The connection options a client was made with (a Cluster's are its nodes' `redisOptions`). */
function optionsOf(redis: Redis): { host?: string; port?: number; username?: string; tls?: { ca?: unknown } } {
  const r = redis as unknown as {
    options?: { host?: string; port?: number; username?: string; tls?: object; redisOptions?: object };
    startupNodes?: { host?: string; port?: number }[];
  };
  const own = r.options?.redisOptions ? { ...r.options.redisOptions, ...r.startupNodes?.[0] } : r.options;
  return (own ?? {}) as ReturnType<typeof optionsOf>;
}

/**
 * The one line for an error that is Redis refusing this client's settings, or undefined (Redis
 * away, a timeout: not a setting). `err` is what a command or the connection reported.
 */
export function describeRedisRefusal(redis: Redis, err: unknown): string | undefined {
  const e = (err ?? {}) as { message?: string; code?: unknown };
  const message = String(e.message ?? err);
  const opts = optionsOf(redis);
  const at = `the Redis at ${opts.host ?? "?"}:${opts.port ?? "?"}`;
  const quote = (text: string) => JSON.stringify(text);
  if (/^WRONGPASS/.test(message)) {
    const user = opts.username ? `REDIS_USERNAME=${quote(opts.username)}` : "the default user (REDIS_USERNAME is not set)";
    return `redis: ${at} refused ${user} with the password of REDIS_PASSWORD / REDIS_PASSWORD_FILE: ${quote(message)}`;
  }
  if (/^NOAUTH/.test(message)) {
    return `redis: ${at} wants a user and password, and none was given: set REDIS_USERNAME and REDIS_PASSWORD or REDIS_PASSWORD_FILE: ${quote(message)}`;
  }
  const code = typeof e.code === "string" ? e.code : "";
  if (UNTRUSTED.test(code)) {
    const trust = opts.tls?.ca ? "REDIS_CA_FILE" : "the system's certificate authorities (REDIS_CA_FILE is not set)";
    const what = code === "ERR_TLS_CERT_ALTNAME_INVALID" ? "is not for that host name" : `is not trusted by ${trust}`;
    return `redis: the TLS certificate of ${at} ${what}: ${quote(message)} (${code})`;
  }
  return undefined;
}

/** Rejects with a one-line RedisRequirementError naming the setting, its value and what is needed. */
export async function checkRedis(redis: Redis): Promise<void> {
  // A refused TLS handshake reaches the command only as "max retries": the connection's own error says why.
  let refused: string | undefined;
  const onError = (err: unknown) => {
    refused ??= describeRedisRefusal(redis, err);
  };
  redis.on("error", onError);
  let info: string;
  try {
    info = await redis.info();
  } catch (err) {
    const line = describeRedisRefusal(redis, err) ?? refused;
    throw line ? new RedisRequirementError(line) : err;
  } finally {
    redis.off("error", onError);
  }
  const version = field(info, "redis_version") ?? "unknown";
  if (!(Number(version.split(".")[0]) >= 7)) {
    throw new RedisRequirementError(`redis: redis_version is ${version}; the scripts need Redis 7.0 or later`);
  }
  const maxmemory = Number(field(info, "maxmemory") ?? 0);
  const policy = field(info, "maxmemory_policy") ?? "noeviction";
  if (maxmemory > 0 && policy !== "noeviction") {
    throw new RedisRequirementError(
      `redis: maxmemory-policy is ${policy} with maxmemory ${maxmemory}: it can evict the projections; set maxmemory-policy noeviction, or no maxmemory`,
    );
  }
}

/**
 * A role's start-up check: a Redis that does not fit, or refuses the user, its password or the
 * CA, stops the process with the one line and exit code 2; a Redis that does not answer yet is
 * only logged (the role retries Redis as usual).
 */
export async function exitUnlessRedisFits(redis: Redis, warn: (line: string) => void, timeoutMs = 5_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      checkRedis(redis),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof RedisRequirementError) {
      console.error(err.message);
      process.exit(2);
    }
    warn(`redis: could not check the server at start (${err instanceof Error ? err.message : String(err)}); going on`);
  } finally {
    clearTimeout(timer);
  }
}
