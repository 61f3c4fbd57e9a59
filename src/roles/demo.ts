/**
 * `bun run demo [-- <simulator options>]`: the whole pipeline on this machine, fed by the local
 * feed simulator. `bun run start` (`--live`): the same against FEED_URL (blockchain.com).
 *
 * Starts Kafka and Redis when nothing answers where KAFKA_BROKERS / REDIS_URL point, then one
 * child process per role (the counts consumer three times, one per partition), prefixes their
 * output with the role's name, prints where everything runs, and on Ctrl-C / SIGTERM stops the
 * children (each finishes its batch and commits) and then what it started.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { configOrExit } from "../config.ts";
import { MissingToolError } from "../infra/kafka.ts";
import { diesWithParent, freePort, portAnswers, waitUntil } from "../infra/process.ts";
import { ensureStack } from "../infra/stack.ts";

const live = process.argv.includes("--live");
const simArgs = process.argv.slice(2).filter((a) => a !== "--live" && a !== "--");
const config = configOrExit();
const roles = join(import.meta.dir);

interface RoleSpec {
  name: string;
  file: string;
  env?: Record<string, string>;
  args?: string[];
}

function plan(feedUrl: string, simPort: number): RoleSpec[] {
  const specs: RoleSpec[] = [];
  if (!live) specs.push({ name: "sim", file: "sim.ts", args: ["--port", String(simPort), ...simArgs] });
  specs.push({ name: "producer", file: "producer.ts", env: { FEED_URL: feedUrl } });
  for (let i = 1; i <= 3; i++) specs.push({ name: `counts-${i}`, file: "consumer-counts.ts" });
  specs.push({ name: "addresses", file: "consumer-addresses.ts" });
  specs.push({ name: "transactions", file: "consumer-transactions.ts" });
  specs.push({ name: "api", file: "api.ts" });
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

let stack: Awaited<ReturnType<typeof ensureStack>>;
try {
  stack = await ensureStack(config);
} catch (err) {
  console.error(err instanceof MissingToolError ? err.message : `demo: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

const simPort = freePort();
const feedUrl = live ? config.FEED_URL : `ws://localhost:${simPort}`;
const env = { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers, REDIS_URL: stack.redisUrl } as Record<string, string>;
const children: { name: string; proc: ReturnType<typeof Bun.spawn> }[] = [];
const missing: string[] = [];

for (const spec of plan(feedUrl, simPort)) {
  const file = join(roles, spec.file);
  if (!existsSync(file)) {
    missing.push(spec.name);
    continue;
  }
  const proc = Bun.spawn(diesWithParent([process.execPath, file, ...(spec.args ?? [])]), {
    env: { ...env, ...spec.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  pipe(spec.name, proc.stdout, process.stdout);
  pipe(spec.name, proc.stderr, process.stderr);
  children.push({ name: spec.name, proc });
  // The simulator must listen before the producer dials it.
  if (spec.name === "sim") await waitUntil("the feed simulator", () => portAnswers("localhost", simPort), 10_000).catch(() => {});
}

const api = `http://localhost:${config.PORT}`;
console.log(
  [
    "",
    `demo: ${live ? `live feed ${config.FEED_URL}` : `feed simulator on ${feedUrl}${simArgs.length ? ` (${simArgs.join(" ")})` : ""}`}`,
    `demo: Kafka ${stack.kafkaBrokers}, topic ${config.TOPIC}; Redis ${stack.redisUrl}`,
    `demo: dashboard ${api}/  API ${api}  Swagger ${api}/swagger`,
    `demo: running ${children.map((c) => c.name).join(", ")}${missing.length ? `; not built yet: ${missing.join(", ")}` : ""}`,
    "demo: Ctrl-C stops everything",
    "",
  ].join("\n"),
);

let stopping = false;
async function stop(signal: string) {
  if (stopping) process.exit(130);
  stopping = true;
  console.error(`demo: ${signal}: stopping roles...`);
  for (const child of children) child.proc.kill("SIGTERM");
  const timer = setTimeout(() => children.forEach((c) => c.proc.kill("SIGKILL")), 20_000);
  await Promise.all(children.map((c) => c.proc.exited));
  clearTimeout(timer);
  await stack.stop();
  process.exit(0);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

// A role that dies on its own is reported; the others keep running.
for (const child of children) {
  child.proc.exited.then((code) => {
    if (!stopping) console.error(`demo: ${child.name} exited with ${code}`);
  });
}
