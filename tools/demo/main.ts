/**
 * `bun run demo [-- <simulator options>]`: the whole pipeline on this machine, fed by the local
 * feed simulator. `bun run start` (`--live`): the same against FEED_URL (blockchain.com).
 * `--cluster`: on three Kafka brokers and a Redis Cluster (tools/infra/cluster.ts) instead of one
 * broker and one redis-server: the same as running it with the variables `bun run infra --cluster`
 * prints (several brokers, several Redis seeds, TOPIC_REPLICATION=3), which it also accepts.
 * `--secure`: on the secure stack of `bun run infra --secure` (tools/infra/secure-stack.ts), started
 * when it does not answer: Kafka over SASL_SSL, Redis over TLS, each role logged in to Redis as
 * its own ACL user.
 * BTC_REDIS_USERS_DIR: a folder holding the roles' Redis passwords, one file per user named as
 * the user (tools/infra/acl.ts): each role then logs in to Redis as its own user (the test suite's
 * Redis gives one, tools/testkit/stack.ts).
 *
 * Starts Kafka and Redis when nothing answers where KAFKA_BROKERS / REDIS_URL point (a cluster
 * when they list several, tools/infra/stack.ts), then one
 * child process per role (each consumer group as many times as its projection's spec says, from
 * the registry, src/projections/registry.ts), prefixes their
 * output with the role's name, prints where everything runs, and on Ctrl-C / SIGTERM stops the
 * children (each finishes its batch and commits) and then what it started.
 *
 * Supervision (tools/demo/supervisor.ts): a role that exits is started again after 0.5 s doubling
 * to 30 s, each restart logged and counted in the metrics hash (`supervisor_restarts_total`,
 * `supervisor_restarts_<role>_total`, `supervisor_last_restart`); a role that fails 5 times in a
 * row within a minute stops the demo with exit code 1.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { configOrExit, loadConfig } from "../../src/domain/config.ts";
import { createLogger } from "../../src/domain/log.ts";
import { REPEAT_MS } from "../../src/domain/shutdown.ts";
import { PROJECTIONS } from "../../src/projections/registry.ts";
import { connectRedis, redisSeeds } from "../../src/redis/connection.ts";
import { metricsKey } from "../../src/redis/keys.ts";
import { redisRoleUsers } from "../infra/acl.ts";
import { DEFAULT_CLUSTER_ENV } from "../infra/cluster.ts";
import { MissingToolError } from "../infra/kafka.ts";
import { diesWithParent, freePort, portAnswers, waitUntil } from "../infra/process.ts";
import { type SecureStack, secureStackPorts, startSecureStack } from "../infra/secure-stack.ts";
import { ensureStack, type Stack } from "../infra/stack.ts";
import { jitEnv } from "./jit.ts";
import { describeExit, type RestartEvent, Supervisor } from "./supervisor.ts";

const live = process.argv.includes("--live");
const onCluster = process.argv.includes("--cluster");
const onSecure = process.argv.includes("--secure");
if (onCluster && onSecure) {
  console.error("demo: --secure and --cluster do not go together");
  process.exit(2);
}
const simArgs = process.argv.slice(2).filter((a) => a !== "--live" && a !== "--cluster" && a !== "--secure" && a !== "--");
/** `--cluster` sets what `bun run infra --cluster` prints; the roles get it too. */
const clusterEnv = onCluster ? DEFAULT_CLUSTER_ENV : {};
const config = configOrExit({ ...process.env, ...clusterEnv });
/** The repository: role files are named from it. */
const ROOT = join(import.meta.dir, "..", "..");

interface RoleSpec {
  name: string;
  file: string;
  /** Its Redis user on the secure stack or with BTC_REDIS_USERS_DIR (tools/infra/acl.ts): `producer`, `consumer-<role>`, `api`. */
  user?: string;
  env?: Record<string, string>;
  args?: string[];
}

function plan(feedUrl: string, simPort: number): RoleSpec[] {
  const specs: RoleSpec[] = [];
  if (!live) specs.push({ name: "sim", file: "tools/sim/main.ts", args: ["--port", String(simPort), ...simArgs] });
  specs.push({ name: "producer", file: "src/roles/producer.ts", user: "producer", env: { FEED_URL: feedUrl } });
  // Each group's processes: `<role>` when it runs one, `<role>-1` ... `<role>-n` when several.
  for (const { role, processes: n } of PROJECTIONS) {
    for (let i = 1; i <= n; i++) specs.push({ name: n > 1 ? `${role}-${i}` : role, file: "src/roles/consumer.ts", user: `consumer-${role}`, args: [role] });
  }
  specs.push({ name: "api", file: "src/roles/api.ts", user: "api" });
  return specs;
}

async function pipe(name: string, stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream) {
  const tag = `[${name}]`.padEnd(15);
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) out.write(`${tag} ${line}\n`);
  }
  if (rest) out.write(`${tag} ${rest}\n`);
}

/** The URL (or a cluster's seed URLs) without its password, for printing. */
function redacted(url: string): string {
  return redisSeeds(url)
    .map((seed) => {
      const u = new URL(seed);
      if (u.password) u.password = "***";
      return u.toString();
    })
    .join(",");
}

let stack: Stack;
/** The secure stack's variables and users, under `--secure`. */
let secure: SecureStack | undefined;
try {
  if (onSecure) {
    secure = await startSecureStack({ ...secureStackPorts(process.env), prefix: config.REDIS_PREFIX });
    stack = { kafkaBrokers: secure.env.KAFKA_BROKERS as string, redisUrl: secure.env.REDIS_URL as string, started: {}, stop: secure.stop };
  } else {
    stack = await ensureStack(config);
  }
} catch (err) {
  console.error(err instanceof MissingToolError ? err.message : `demo: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

const simPort = freePort();
const feedUrl = live ? config.FEED_URL : `ws://localhost:${simPort}`;
/** The roles' variables: the demo's own, and BUN_JSC_useJIT=false at low rates (./jit.ts). */
const env = { ...process.env, ...jitEnv(process.env, simArgs, live), ...clusterEnv, ...secure?.env } as Record<string, string>;
/** BTC_REDIS_USERS_DIR: the roles' password files, one per Redis user, named as the user. */
const usersDir = process.env.BTC_REDIS_USERS_DIR;
/** A role's own Redis user: the secure stack's, or the one of BTC_REDIS_USERS_DIR; none without either. */
function userEnv(role: string): Record<string, string> {
  if (secure) return secure.roleEnv(role);
  if (!usersDir) return {};
  const user = redisRoleUsers({ prefix: config.REDIS_PREFIX }).find((u) => u.role === role);
  if (!user) throw new Error(`demo: no Redis user for role ${JSON.stringify(role)}`);
  return { REDIS_USERNAME: user.name, REDIS_PASSWORD_FILE: join(usersDir, user.name), REDIS_PASSWORD: "" };
}
/** A role's variables: the demo's, and its own Redis user on the secure stack or with BTC_REDIS_USERS_DIR. */
const envOf = (spec: RoleSpec): Record<string, string> => ({ ...env, ...(spec.user ? userEnv(spec.user) : {}), ...spec.env });
const specs = new Map<string, RoleSpec>();
const missing: string[] = [];
for (const spec of plan(feedUrl, simPort)) {
  if (existsSync(join(ROOT, spec.file))) specs.set(spec.name, spec);
  else missing.push(spec.name);
}

// Restarts are counted where the other pipeline counters live; Redis away only loses the count.
// With the roles' users the demo writes them as the producer's user, whose keys they are among.
const redis = connectRedis(
  stack.redisUrl,
  createLogger("demo", config),
  secure || usersDir ? loadConfig({ ...env, ...userEnv("producer"), REDIS_URL: stack.redisUrl }) : undefined,
);
function countRestart(event: RestartEvent): void {
  const key = metricsKey(config);
  const last = JSON.stringify({ role: event.role, exit: event.exit, at_ms: event.atMs });
  redis
    .multi()
    .hincrby(key, "supervisor_restarts_total", 1)
    .hincrby(key, `supervisor_restarts_${event.role}_total`, 1)
    .hset(key, "supervisor_last_restart", last)
    .exec()
    .catch((err) => console.error(`demo: could not count the restart of ${event.role} in Redis: ${err instanceof Error ? err.message : err}`));
}

let stopping = false;
/** When the first stop signal came (a repeat within REPEAT_MS is the same stop). */
let stoppingSince = 0;
const supervisor = new Supervisor({
  spawn(name) {
    const spec = specs.get(name) as RoleSpec;
    const proc = Bun.spawn(diesWithParent([process.execPath, join(ROOT, spec.file), ...(spec.args ?? [])]), {
      env: envOf(spec),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    pipe(name, proc.stdout, process.stdout);
    pipe(name, proc.stderr, process.stderr);
    return proc;
  },
  started: (name, proc) => console.log(`demo: ${name} pid ${proc.pid}`),
  exited: (e) => console.error(`demo: ${e.role} exited (${describeExit(e.exit)}); restarting in ${e.delayMs / 1000} s (failure ${e.failures} in a row)`),
  restarted: countRestart,
  gaveUp: (name, exit, failures, withinMs) => stop(`${name} failed ${failures} times in a row within ${Math.ceil(withinMs / 1000)} s (last: ${describeExit(exit)}); giving up`, 1),
});

process.on("SIGINT", () => stop("SIGINT", 0));
process.on("SIGTERM", () => stop("SIGTERM", 0));

for (const name of specs.keys()) {
  if (!supervisor.add(name)) break; // stopping already (a signal, or a role given up on)
  // The simulator must listen before the producer dials it.
  if (name === "sim") await waitUntil("the feed simulator", async () => stopping || (await portAnswers("localhost", simPort)), 10_000).catch(() => {});
}
if (stopping) await new Promise(() => {}); // stop() exits the process

const api = `http://localhost:${config.PORT}`;
console.log(
  [
    "",
    `demo: ${live ? `live feed ${config.FEED_URL}` : `feed simulator on ${feedUrl}${simArgs.length ? ` (${simArgs.join(" ")})` : ""}`}`,
    `demo: Kafka ${stack.kafkaBrokers}${secure ? ` (SASL_SSL, ${secure.env.KAFKA_SASL_MECHANISM}, mutual TLS)` : ""}, topic ${config.TOPIC}; Redis ${redacted(stack.redisUrl)}${secure ? " (TLS, a user per role)" : ""}`,
    `demo: dashboard ${api}/  API ${api}  Swagger ${api}/swagger`,
    `demo: running ${[...specs.keys()].join(", ")}${missing.length ? `; not built yet: ${missing.join(", ")}` : ""}`,
    `demo: the roles run ${/^(false|0)$/.test(env.BUN_JSC_useJIT ?? "") ? "without the JIT, so their memory stays flat (BUN_JSC_useJIT=true keeps it)" : "with the JIT (BUN_JSC_useJIT=false keeps their memory flat)"}`,
    "demo: a role that exits is restarted (0.5 s doubling to 30 s); Ctrl-C stops everything",
    "",
  ].join("\n"),
);

/** Stops the roles (each finishes its batch and commits), then what the demo started; exits `code`. */
async function stop(why: string, code: number) {
  if (stopping) {
    // A second Ctrl-C exits at once; but under `bun run` one Ctrl-C arrives twice (from the
    // terminal and forwarded by bun), so a repeat within 2 s is the same one.
    if (code === 0 && Date.now() - stoppingSince > REPEAT_MS) process.exit(130);
    return;
  }
  stopping = true;
  stoppingSince = Date.now();
  console.error(`demo: ${why}: stopping roles...`);
  await supervisor.stop(20_000);
  redis.disconnect();
  await stack.stop();
  process.exit(code);
}
