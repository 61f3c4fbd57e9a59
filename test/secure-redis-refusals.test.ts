/**
 * A Redis that refuses a role's settings stops the role at start with one line and exit code 2,
 * as the Kafka settings do (secure-settings.test.ts): a wrong password (WRONGPASS), no user where
 * the server wants one (NOAUTH), a server certificate REDIS_CA_FILE does not trust. The line names
 * the setting and quotes what Redis answered, never the password. On the TLS redis-server of the
 * run's secure stack (tools/testkit/secure.ts), with the roles' ACL users made the way
 * `bun run infra --secure` makes them.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Redis from "ioredis";
import { loadConfig } from "../src/domain/config.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { checkRedis, RedisRequirementError } from "../src/redis/requirements.ts";
import type { RedisRoleUser } from "../tools/infra/acl.ts";
import { freePort } from "../tools/infra/process.ts";
import type { LocalRedis } from "../tools/infra/redis.ts";
import type { Certificates } from "../tools/infra/secure.ts";
import { otherCertificates, type SharedSecureStack, secureStack } from "../tools/testkit/secure.ts";
import { testEnv } from "./helpers/env.ts";

setDefaultTimeout(60_000);

const ROOT = join(import.meta.dir, "..");
const PREFIX = "secref";
let stack: SharedSecureStack;
/** The stack's users, made for the secure tests' prefixes (PREFIX among them). */
let users: readonly RedisRoleUser[];
const userOf = (role: string) => users.find((u) => u.role === role) as RedisRoleUser;
const { env } = testEnv({ REDIS_PREFIX: PREFIX });

let root: string;
let certs: Certificates;
let other: Certificates;
let server: LocalRedis;
const clients: Redis[] = [];
const password = (user: RedisRoleUser) => readFileSync(stack.passwordFile(user), "utf8").trim();
/** A password no user has, written to a file as a mounted secret would be. */
let wrongFile: string;
const WRONG = "not-the-password-0123456789";

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "btc-secure-redis-refusals-"));
  stack = await secureStack();
  ({ users, certs, redis: server } = stack);
  other = otherCertificates();
  wrongFile = join(root, "wrong.password");
  writeFileSync(wrongFile, `${WRONG}\n`);
});

afterAll(() => {
  for (const c of clients) c.disconnect();
  rmSync(root, { recursive: true, force: true });
});

/** The roles' factory with these variables, and what its start-up check rejects with. */
async function checked(vars: Record<string, string>): Promise<unknown> {
  const client = connectRedis(server.url, undefined, loadConfig({ REDIS_URL: server.url, ...vars }));
  clients.push(client);
  return checkRedis(client).then(
    () => undefined,
    (err: unknown) => err,
  );
}

const at = () => `the Redis at 127.0.0.1:${server.port}`;

describe("the start-up check names the refused setting in one line", () => {
  test("a wrong password: REDIS_USERNAME and what Redis answered, not the password", async () => {
    const err = await checked({ REDIS_CA_FILE: certs.ca, REDIS_USERNAME: userOf("api").name, REDIS_PASSWORD_FILE: wrongFile });
    expect(err).toBeInstanceOf(RedisRequirementError);
    expect((err as Error).message).toBe(
      `redis: ${at()} refused REDIS_USERNAME="${userOf("api").name}" with the password of REDIS_PASSWORD / REDIS_PASSWORD_FILE: "WRONGPASS invalid username-password pair or user is disabled."`,
    );
    expect((err as Error).message).not.toContain(WRONG);
  });

  test("no user on a server whose default user is off: NOAUTH", async () => {
    const err = await checked({ REDIS_CA_FILE: certs.ca });
    expect(err).toBeInstanceOf(RedisRequirementError);
    expect((err as Error).message).toBe(
      `redis: ${at()} wants a user and password, and none was given: set REDIS_USERNAME and REDIS_PASSWORD or REDIS_PASSWORD_FILE: "NOAUTH Authentication required."`,
    );
  });

  test("a server certificate that REDIS_CA_FILE does not trust, and one with no REDIS_CA_FILE", async () => {
    const api = { REDIS_USERNAME: userOf("api").name, REDIS_PASSWORD: password(userOf("api")) };
    const wrongCa = await checked({ ...api, REDIS_CA_FILE: other.ca });
    expect(wrongCa).toBeInstanceOf(RedisRequirementError);
    expect((wrongCa as Error).message).toMatch(new RegExp(`^redis: the TLS certificate of ${at()} is not trusted by REDIS_CA_FILE: ".+" \\([A-Z_]+\\)$`));
    const noCa = await checked(api);
    expect((noCa as Error).message).toMatch(/is not trusted by the system's certificate authorities \(REDIS_CA_FILE is not set\)/);
    for (const err of [wrongCa, noCa]) expect((err as Error).message).not.toContain(api.REDIS_PASSWORD);
  });

  test("the right settings pass, and a Redis that is away gives no such line (it is retried)", async () => {
    expect(await checked({ REDIS_CA_FILE: certs.ca, REDIS_USERNAME: userOf("api").name, REDIS_PASSWORD: password(userOf("api")) })).toBeUndefined();
    const away = `redis://127.0.0.1:${freePort()}`;
    const client = connectRedis(away, undefined, loadConfig({ REDIS_URL: away }));
    clients.push(client);
    const err = await checkRedis(client).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(RedisRequirementError);
  });
});

describe("a role given a refused setting exits 2 with the one line", () => {
  const entries: [string, string, string[]][] = [
    ["api", "api.ts", []],
    ["producer", "producer.ts", []],
    [`consumer-${PROJECTIONS[0]?.role}`, "consumer.ts", [PROJECTIONS[0]?.role as string]],
    ["rebuild", "rebuild.ts", ["--group", PROJECTIONS[0]?.role as string]],
  ];
  for (const [role, file, args] of entries) {
    test(`${role}: a wrong password`, async () => {
      const proc = Bun.spawn([process.execPath, join(ROOT, "src", "roles", file), ...args], {
        cwd: ROOT,
        env: {
          ...process.env,
          ...env,
          REDIS_URL: server.url,
          REDIS_CA_FILE: certs.ca,
          REDIS_USERNAME: userOf(role).name,
          REDIS_PASSWORD: "",
          REDIS_PASSWORD_FILE: wrongFile,
          PORT: String(freePort()),
          LOG_LEVEL: "info",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      clearTimeout(timer);
      const line = `redis: ${at()} refused REDIS_USERNAME="${userOf(role).name}" with the password of REDIS_PASSWORD / REDIS_PASSWORD_FILE: "WRONGPASS invalid username-password pair or user is disabled."`;
      expect({ code, last: err.trim().split("\n").at(-1) }).toEqual({ code: 2, last: line });
      expect(out + err).not.toContain(WRONG);
    });
  }
});
