/**
 * What the projections need of a Redis server, checked by every role at start, so a server that
 * would silently misbehave stops the role with one line instead:
 *   - version 7.0 or later (the scripts use EXPIRE ... NX / GT, ZMSCORE, and TIME in scripts
 *     that write);
 *   - nothing evicted: `maxmemory-policy noeviction`, or no `maxmemory` at all. An evicted key
 *     would be a silent hole in a projection, with its position still saying it is there.
 * Read from INFO, which managed Redis services allow where CONFIG is often disabled.
 */
import type Redis from "ioredis";

export class RedisRequirementError extends Error {
  override name = "RedisRequirementError";
}

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();

/** Rejects with a one-line RedisRequirementError naming the setting, its value and what is needed. */
export async function checkRedis(redis: Redis): Promise<void> {
  const info = await redis.info();
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
 * A role's start-up check: a Redis that does not fit stops the process with the one line and
 * exit code 2; a Redis that does not answer yet is only logged (the role retries Redis as usual).
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
