/**
 * compose.yaml's Kafka and Redis, started here as compose would start them, without Docker: the
 * Kafka service's start script (its `command`) run by sh, with the broker of the local stack's jars
 * behind the image's two scripts, and the Redis service's command line run by redis-server; both
 * against the secret files tools/infra/compose-secrets.ts makes, at the paths compose mounts them
 * (here a folder of links). Only what has no meaning outside Docker changes: the paths, the ports,
 * and the service name `kafka` (here `localhost`, which the certificate names too). Then each
 * role's compose environment, with the same paths, connects through the roles' own factories.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/domain/config.ts";
import type { Logger } from "../src/domain/log.ts";
import { createKafka } from "../src/kafka/client.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { groupPrefix } from "../src/redis/keys.ts";
import { checkRedis } from "../src/redis/requirements.ts";
import { writeComposeSecrets } from "../tools/infra/compose-secrets.ts";
import { ensureKafkaJars } from "../tools/infra/kafka.ts";
import { type Child, freePort, startChild, waitUntil } from "../tools/infra/process.ts";
import { redisAnswers } from "../tools/infra/redis.ts";
import { waitFor } from "./helpers/env.ts";

setDefaultTimeout(180_000);

interface Service {
  command?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
}
const compose = Bun.YAML.parse(await Bun.file(join(import.meta.dir, "..", "compose.yaml")).text()) as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
};
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, limited() {} };

const root = mkdtempSync(join(tmpdir(), "btc-secure-compose-"));
/** Where compose would mount each secret: /run/secrets/<name> is <mounts>/<name>. */
const mounts = join(root, "run-secrets");
const kafkaPort = freePort();
const controllerPort = freePort();
const redisPort = freePort();
const children: Child[] = [];

/** A compose value as it reaches the container (`$$` is `$`), with its Docker-only parts mapped to this machine. */
function here(text: string): string {
  return text
    .replaceAll("/tmp/", `${root}/`)
    .replaceAll("$$", "$")
    .replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1")
    .replaceAll("/run/secrets/", `${mounts}/`)
    .replaceAll("/opt/kafka/bin/", `${join(root, "bin")}/`)
    .replaceAll("/var/lib/kafka/data", join(root, "kafka-data"))
    .replaceAll("kafka:19092", `localhost:${kafkaPort}`)
    .replaceAll(":19092", `:${kafkaPort}`)
    .replaceAll("localhost:9093", `localhost:${controllerPort}`)
    .replaceAll("rediss://redis:6379", `rediss://localhost:${redisPort}`);
}

/** A role's compose environment, mapped. */
const envOf = (service: string) => Object.fromEntries(Object.entries(compose.services[service]?.environment ?? {}).map(([k, v]) => [k, here(String(v))]));

function startKafkaService(): Child {
  const script = String(compose.services.kafka?.command?.at(-1));
  const child = startChild("compose-kafka", ["sh", "-ec", here(script)], { logFile: join(root, "kafka.log") });
  children.push(child);
  return child;
}

beforeAll(async () => {
  const secretsDir = join(root, "secrets");
  writeComposeSecrets(secretsDir);
  mkdirSync(mounts);
  for (const [name, { file }] of Object.entries(compose.secrets)) symlinkSync(join(secretsDir, file.replace(".cache/compose/", "")), join(mounts, name));
  // The image's two scripts, over the local stack's jars (tools/infra/kafka.ts).
  const home = await ensureKafkaJars(() => {});
  const java = `java -cp '${join(home, "libs")}/*' -Dlog4j2.configurationFile=${join(home, "log4j2.properties")}`;
  mkdirSync(join(root, "bin"));
  writeFileSync(join(root, "bin", "kafka-storage.sh"), `#!/bin/sh\nexec ${java} kafka.tools.StorageTool "$@"\n`);
  writeFileSync(join(root, "bin", "kafka-server-start.sh"), `#!/bin/sh\nexec ${java} -Xms256m -Xmx512m -XX:+UseSerialGC kafka.Kafka "$1"\n`);
  for (const f of ["kafka-storage.sh", "kafka-server-start.sh"]) chmodSync(join(root, "bin", f), 0o755);
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop(10_000)));
  rmSync(root, { recursive: true, force: true });
});

/** Produces a record as the producer's compose environment, reads it back as a consumer's; the value read. */
async function roundTrip(value: string): Promise<string> {
  const config = loadConfig({ ...envOf("producer"), TOPIC: "compose-secure" });
  const kafka = createKafka(config, "compose-test", quiet, (line) => {
    throw new Error(line);
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: config.TOPIC, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({ topic: config.TOPIC, acks: -1, messages: [{ value }] });
  await producer.disconnect();
  const consumer = createKafka(loadConfig({ ...envOf(`consumer-${PROJECTIONS[0]?.role}`), TOPIC: "compose-secure" }), "compose-test-consumer", quiet).consumer({
    groupId: `compose-${value}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.TOPIC, fromBeginning: true });
  const seen: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
  await waitFor(`the record ${value}`, () => seen.includes(value), 60_000);
  await consumer.disconnect();
  await admin.disconnect();
  return value;
}

test("compose's Kafka start script: formats with the SCRAM users of the secret files, starts a SASL_SSL broker the roles' environment reaches", async () => {
  const kafka = startKafkaService();
  await waitUntil("compose's Kafka", async () => readFileSync(join(root, "kafka.log"), "utf8").includes("Kafka Server started"), 90_000, kafka, join(root, "kafka.log"));
  expect(readFileSync(join(root, "kafka.log"), "utf8")).toContain("Formatting");
  expect(await roundTrip("first")).toBe("first");
  // What the health check and kafka-topics.sh log in with.
  const client = readFileSync(join(root, "client.properties"), "utf8");
  expect(client).toContain("security.protocol=SASL_SSL");
  expect(client).toContain(`password="${readFileSync(join(mounts, "kafka_password"), "utf8").trim()}"`);
});

test("started again on its volume, the script does not format it again, and the users still log in", async () => {
  await children[0]?.stop(15_000);
  const log = join(root, "kafka.log");
  writeFileSync(log, "");
  const kafka = startKafkaService();
  await waitUntil("compose's Kafka, again", async () => readFileSync(log, "utf8").includes("Kafka Server started"), 90_000, kafka, log);
  expect(readFileSync(log, "utf8")).not.toContain("Formatting");
  expect(await roundTrip("second")).toBe("second");
});

test("compose's Redis command line: TLS only, the ACL users; its health check passes; each role logs in as its own user", async () => {
  const command = (compose.services.redis?.command ?? []).map((arg) => (arg === "6379" ? String(redisPort) : here(arg)));
  mkdirSync(join(root, "redis"));
  const redis = startChild("compose-redis", [...command, "--dir", join(root, "redis"), "--bind", "127.0.0.1"], { logFile: join(root, "redis.log") });
  children.push(redis);
  await waitUntil("compose's Redis", () => redisAnswers(redisPort, join(mounts, "ca")), 15_000, redis, join(root, "redis.log"));
  expect(await redisAnswers(redisPort)).toBe(false); // no plaintext

  const health = here(String(compose.services.redis?.healthcheck?.test.at(-1))).replace("-h localhost", `-h localhost -p ${redisPort}`);
  expect(Bun.spawnSync(["sh", "-c", health]).exitCode).toBe(0);

  // Each role's service, with the key it may write (none for the API).
  const keyOf = (spec: (typeof PROJECTIONS)[number]) => `${groupPrefix(loadConfig(envOf("api")), spec)}compose-test`;
  const services: [string, string | undefined][] = [
    ["api", undefined],
    ["producer", "{btc}:producer:held"],
    ...PROJECTIONS.map((spec) => [`consumer-${spec.role}`, keyOf(spec)] as [string, string]),
  ];
  for (const [service, own] of services) {
    const config = loadConfig(envOf(service));
    const client = connectRedis(config.REDIS_URL, undefined, config);
    try {
      await checkRedis(client);
      expect(await client.call("ACL", "WHOAMI").catch((e: Error) => e.message)).toMatch(/NOPERM/);
      expect(await client.flushall().catch((e: Error) => e.message)).toMatch(/^NOPERM/);
      if (own) expect({ service, wrote: await client.hset(own, "f", "1") }).toEqual({ service, wrote: 1 });
      // Nobody writes another group's keys; the API writes none.
      const theirs = PROJECTIONS.map(keyOf).find((key) => key !== own) as string;
      expect({ service, refused: await client.hset(theirs, "g", "1").catch((e: Error) => e.message) }).toEqual({ service, refused: expect.stringMatching(/^NOPERM/) });
    } finally {
      client.disconnect();
    }
  }
});
