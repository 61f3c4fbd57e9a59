/**
 * `bun run rebuild [--group <role>]...`: drops the Redis projection of the chosen consumer groups
 * (roles of the registry, src/projections/registry.ts; default every group), each by its own drop
 * (a few short atomic calls: src/projections/<name>/drop.ts), and prints the
 * progress of their consumers replaying the Kafka log into it until they are level
 * (src/rebuild/rebuild.ts).
 * Exits 0 when done, 1 when Redis or Kafka failed, 2 on a bad argument.
 */
import { configOrExit } from "../domain/config.ts";
import { createLogger } from "../domain/log.ts";
import type { GroupRole } from "../domain/projection.ts";
import { createKafka } from "../kafka/client.ts";
import { PROJECTIONS, projectionOf, ROLES } from "../projections/registry.ts";
import { rebuild } from "../rebuild/rebuild.ts";
import { connectRedis } from "../redis/connection.ts";
import { defineScripts } from "../redis/loader.ts";
import { checkRedis, RedisRequirementError } from "../redis/requirements.ts";

function parseRoles(args: string[]): GroupRole[] {
  const roles: GroupRole[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = arg === "--group" ? args[++i] : arg.startsWith("--group=") ? arg.slice("--group=".length) : undefined;
    if (!projectionOf(value)) {
      console.error(
        `rebuild: ${arg === "--group" || arg.startsWith("--group=") ? `--group ${JSON.stringify(value ?? "")} is not allowed` : `unknown argument ${JSON.stringify(arg)}`}; usage: bun run rebuild [--group ${ROLES.join("|")}]`,
      );
      process.exit(2);
    }
    roles.push(value as GroupRole);
  }
  return roles;
}

const roles = parseRoles(process.argv.slice(2));
const config = configOrExit();
const log = createLogger("rebuild", config);
const abort = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (abort.signal.aborted) process.exit(130);
    console.error(`rebuild: ${signal}: no longer waiting (the consumers go on replaying by themselves)`);
    abort.abort();
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const redis = defineScripts(connectRedis(config.REDIS_URL, log));
const admin = createKafka(config, `rebuild-${process.pid}`, log).admin();
try {
  await checkRedis(redis);
  await admin.connect();
  const topics = await admin.listTopics();
  const partitions = topics.includes(config.TOPIC) ? (await admin.fetchTopicOffsets(config.TOPIC)).length : 0;
  await admin.disconnect();
  const results = await rebuild({
    config,
    redis,
    projections: PROJECTIONS,
    roles,
    partitions,
    signal: abort.signal,
    onProgress: (p) => {
      const pct = p.total ? Math.floor((100 * p.replayed) / p.total) : 100;
      const state = p.done ? "level with the log" : p.started < p.partitions ? `${p.started} of ${p.partitions} partitions started` : "replaying";
      console.log(`rebuild ${p.role} (${p.group}): ${fmt(p.replayed)} of ${fmt(p.total)} records (${pct}%), ${state}`);
    },
  });
  for (const r of results) {
    const how = r.replaying ? `${fmt(r.replayed)} records replayed` : "no consumer started the replay yet: it starts when one runs";
    console.log(`rebuild ${r.role}: projection dropped (${fmt(r.deletedKeys)} keys), ${how}, ${(r.ms / 1000).toFixed(1)} s`);
  }
  redis.disconnect();
  process.exit(0);
} catch (err) {
  console.error(err instanceof RedisRequirementError ? err.message : `rebuild failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof RedisRequirementError ? 2 : 1);
}
