/**
 * The run-wide test stack: a single-node Kafka and a redis-server, each on a free port with its
 * data in a temporary folder. Their addresses go into process.env (KAFKA_BROKERS, REDIS_URL) so
 * every role and helper started by a test finds them. The children run under pdeathsig: if the
 * test process dies, the kernel stops them.
 *
 * The redis-server runs with the ACL users of tools/infra/acl.ts, made from the registry for the
 * prefix `*` (so each test file's own REDIS_PREFIX matches), and `default` off: a role started by
 * a test logs in as its own user (`testRoleEnv`), and a permission a role lacks fails the test.
 * The test process itself (its assertions, fixtures and clean-up) logs in as `test-admin`, whose
 * user and password file go into process.env (REDIS_USERNAME, REDIS_PASSWORD_FILE). The suite
 * always starts this server of its own: a REDIS_URL set by the developer is replaced
 * (docs/testing.md).
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aclFile, type RedisRoleUser, redisRoleUsers } from "../infra/acl.ts";
import { type LocalKafka, startKafka } from "../infra/kafka.ts";
import { freePort } from "../infra/process.ts";
import { type LocalRedis, startRedis } from "../infra/redis.ts";

export interface TestStack {
  kafka: LocalKafka;
  redis: LocalRedis;
  root: string;
  /** The ACL file of the suite's Redis; a test that starts a redis-server of its own passes it (`startRedis({ aclFile })`) so the roles log in there too. */
  aclFile: string;
}

/**
 * The test process's own Redis user: every key, every command but the `@dangerous` ones, except
 * what tests set up with: INFO, the slow log and its settings, the statistics' reset
 * (address-flood), and FLUSHALL and SAVE, the faults that consistency, self-healing and
 * log-faults inflict on a redis-server of their own.
 */
export const TEST_ADMIN: RedisRoleUser = {
  name: "test-admin",
  role: "test-admin",
  rules: "~* &* +@all -@dangerous +info +config|get +config|set +config|resetstat +slowlog +flushall +save",
};

/** The roles' users (prefix `*`: every test namespace) and the test process's. */
const USERS: readonly RedisRoleUser[] = [...redisRoleUsers({ prefix: "*" }), TEST_ADMIN];

const passwordDir = (root: string) => join(root, "redis-users");
const passwordFile = (root: string, user: RedisRoleUser) => join(passwordDir(root), user.name);

/** Writes a fresh password per user (files only this user of the machine reads) and the ACL file; returns its path. */
function writeUsers(root: string): string {
  mkdirSync(passwordDir(root), { recursive: true, mode: 0o700 });
  const passwords = new Map(USERS.map((u) => [u.name, randomBytes(24).toString("base64url")]));
  for (const user of USERS)
    writeFileSync(
      passwordFile(root, user),
      `${passwords.get(user.name)}
`,
      { mode: 0o600 },
    );
  const file = join(root, "users.acl");
  writeFileSync(
    file,
    aclFile(USERS, (u) => passwords.get(u.name) as string),
    { mode: 0o600 },
  );
  return file;
}

let stack: TestStack | undefined;

export async function startTestStack(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "btc-test-"));
  const quiet = () => {};
  const acl = writeUsers(root);
  const [kafka, redis] = await Promise.all([
    startKafka({ ports: [freePort()], dataDir: join(root, "kafka"), log: quiet, heap: "512m" }),
    startRedis({ port: freePort(), dataDir: join(root, "redis"), persist: true, aclFile: acl }),
  ]);
  stack = { kafka, redis, root, aclFile: acl };
  process.env.KAFKA_BROKERS = kafka.brokers;
  process.env.REDIS_URL = redis.url;
  // The test process's own clients (connectRedis reads these); a role's process gets its own (testRoleEnv).
  // A developer's own Redis settings are not this server's (plaintext, its own users): they go.
  for (const name of ["REDIS_PASSWORD", "REDIS_CA_FILE", "REDIS_CERT_FILE", "REDIS_KEY_FILE"]) delete process.env[name];
  process.env.REDIS_USERNAME = TEST_ADMIN.name;
  process.env.REDIS_PASSWORD_FILE = passwordFile(root, TEST_ADMIN);
  // The demo started by a test gives each role its own user from these files (tools/demo/main.ts).
  process.env.BTC_REDIS_USERS_DIR = passwordDir(root);
}

/**
 * The Redis variables of a role's process: its own ACL user (`api`, `producer`, `rebuild`,
 * `consumer-<role>`; tools/infra/acl.ts) and password file. Valid on the suite's Redis and on any
 * redis-server started with `testStack().aclFile`.
 */
export function testRoleEnv(role: string): Record<string, string> {
  const user = USERS.find((u) => u.role === role);
  if (!user || user === TEST_ADMIN) throw new Error(`test stack: no Redis user for role ${JSON.stringify(role)}; the roles: ${USERS.map((u) => u.role).join(", ")}`);
  return { REDIS_USERNAME: user.name, REDIS_PASSWORD_FILE: passwordFile(testStack().root, user), REDIS_PASSWORD: "" };
}

/** The test process's own user, as ioredis options (for a client made with `new Redis(url, ...)`). */
export function testAdminLogin(): { username: string; password: string } {
  return { username: TEST_ADMIN.name, password: readFileSync(passwordFile(testStack().root, TEST_ADMIN), "utf8").trim() };
}

export async function stopTestStack(): Promise<void> {
  if (!stack) return;
  const { kafka, redis, root } = stack;
  stack = undefined;
  await Promise.all([kafka.stop(), redis.stop()]);
  // Keep the broker's log of the run (warnings and errors) for when a test failed.
  const artifacts = join(import.meta.dir, "..", "..", "test", "artifacts");
  mkdirSync(artifacts, { recursive: true });
  for (const node of kafka.nodes) copyFileSync(node.logFile, join(artifacts, `kafka-${node.nodeId}.log`));
  rmSync(root, { recursive: true, force: true });
}

/**
 * The running stack. Do not stop and restart a part of it from a test: bun test kills, at the
 * end of a file, the children that file's tests spawned, and the other files need the stack.
 * A test that needs an outage starts its own redis-server or broker.
 */
export function testStack(): TestStack {
  if (!stack) throw new Error("the test stack is not running (test/setup.ts is preloaded by bunfig.toml)");
  return stack;
}
