/**
 * The rebuild status key (`{prefix}:rebuild`, docs/redis-keys.md): written while `bun run rebuild`
 * replays a group, read by /health, deleted when the rebuild ends.
 */
import type Redis from "ioredis";
import type { Config } from "../config.ts";
import type { GroupRole } from "../kafka/client.ts";
import { rebuildStatusKey } from "../redis/keys.ts";

type Prefixed = Pick<Config, "REDIS_PREFIX">;

export interface RebuildStatus {
  /** Consumer group id being rebuilt. */
  group: string;
  role: GroupRole;
  /** When this group's rebuild started (ISO-8601). */
  started_at: string;
  /** Records replayed so far, of `total`. */
  replayed: number;
  total: number;
  /** replayed / total, 0..1 (1 when there is nothing to replay). */
  progress: number;
}

const ROLES: readonly string[] = ["counts", "addresses", "transactions"];

export async function writeRebuildStatus(redis: Redis, config: Prefixed, s: Omit<RebuildStatus, "progress">): Promise<void> {
  await redis.hset(rebuildStatusKey(config), { group: s.group, role: s.role, started_at: s.started_at, replayed: String(s.replayed), total: String(s.total) });
}

export async function clearRebuildStatus(redis: Redis, config: Prefixed): Promise<void> {
  await redis.unlink(rebuildStatusKey(config));
}

/** The status, or null when no rebuild runs (or the hash is not a status). */
export async function readRebuildStatus(redis: Redis, config: Prefixed): Promise<RebuildStatus | null> {
  const h = await redis.hgetall(rebuildStatusKey(config));
  if (!h.group || !h.role || !ROLES.includes(h.role)) return null;
  const replayed = Math.max(0, Number(h.replayed) || 0);
  const total = Math.max(0, Number(h.total) || 0);
  return {
    group: h.group,
    role: h.role as GroupRole,
    started_at: h.started_at ?? "",
    replayed,
    total,
    progress: total === 0 ? 1 : Math.min(1, replayed / total),
  };
}
