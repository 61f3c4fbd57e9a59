/**
 * Bad Kafka TLS and SASL settings, each against a real broker: the secure stack's SASL_SSL broker
 * (tools/infra/secure-stack.ts; the run's shared one, tools/testkit/secure.ts) and the run's
 * plaintext one (test/setup.ts). Each gives one line naming the setting and quoting what the
 * broker answered, never the password; a role given it exits 2 with that line. A broker that is
 * only away gives no such line (the roles retry it as before). The configuration's own checks of
 * the new variables come first.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/domain/config.ts";
import type { Logger } from "../src/domain/log.ts";
import { createKafka } from "../src/kafka/client.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { freePort } from "../tools/infra/process.ts";
import { otherCertificates, type SharedSecureStack, secureStack } from "../tools/testkit/secure.ts";

setDefaultTimeout(90_000);

const ROOT = join(import.meta.dir, "..");
let root: string;
let stack: SharedSecureStack;
/** Every password of the secure stack: none may appear in any line. */
let secrets: string[];
const plaintextBrokers = () => process.env.KAFKA_BROKERS ?? "";

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "btc-secure-settings-"));
  stack = await secureStack();
  secrets = [loadConfig(stack.env).KAFKA_SASL_PASSWORD, ...stack.users.map((u) => loadConfig(stack.roleEnv(u.role)).REDIS_PASSWORD)];
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A logger that keeps kafkajs' retries out of the test's output. */
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, limited() {} };

/** Connects an admin with `env` (over the secure stack's variables); the line it was refused with, or "connected". */
async function attempt(env: Record<string, string>): Promise<string> {
  const config = loadConfig({ ...stack.env, LOG_LEVEL: "error", ...env });
  let refused: (line: string) => void = () => {};
  const line = new Promise<string>((resolve) => {
    refused = resolve;
  });
  const kafka = createKafka(config, "settings-test", quiet, (l) => refused(l));
  const admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 100 } });
  const connected = (async () => {
    await admin.connect();
    await admin.listTopics();
    return "connected";
  })().catch(async (err) => {
    // The line, when there is one, may come a moment after the error (the probes).
    return Promise.race([line, Bun.sleep(5_000).then(() => `no line; the error: ${err instanceof Error ? err.message : err}`)]);
  });
  try {
    return await Promise.race([line, connected]);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function expectNoSecret(text: string) {
  for (const s of secrets) expect(text).not.toContain(s);
}

describe("the configuration of Kafka's TLS and SASL", () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["a CA without TLS", { KAFKA_CA_FILE: "/etc/hostname" }, /^config: KAFKA_CA_FILE is set, which needs KAFKA_TLS=true$/],
    ["a CA file that is not there", { KAFKA_TLS: "true", KAFKA_CA_FILE: "/nonexistent/ca.pem" }, /^config: KAFKA_CA_FILE="\/nonexistent\/ca.pem" cannot be read \(ENOENT\)$/],
    ["a CA file that holds no certificate", { KAFKA_TLS: "true", KAFKA_CA_FILE: "/etc/hostname" }, /^config: KAFKA_CA_FILE="\/etc\/hostname" holds no PEM certificate$/],
    ["a client certificate without its key", { KAFKA_TLS: "true", KAFKA_CERT_FILE: "/etc/hostname" }, /^config: KAFKA_CERT_FILE is set, which needs KAFKA_KEY_FILE$/],
    ["an unknown mechanism", { KAFKA_SASL_MECHANISM: "GSSAPI" }, /^config: KAFKA_SASL_MECHANISM="GSSAPI" is not allowed; expected .*PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/],
    [
      "a mechanism without a user",
      { KAFKA_SASL_MECHANISM: "PLAIN" },
      /^config: KAFKA_SASL_MECHANISM=PLAIN is set, which needs KAFKA_SASL_USERNAME \(or KAFKA_SASL_USERNAME_FILE\)$/,
    ],
    ["a password without a mechanism", { KAFKA_SASL_PASSWORD: "hunter2-secret" }, /^config: KAFKA_SASL_PASSWORD is set, which needs KAFKA_SASL_MECHANISM/],
    [
      "a password and its file",
      { KAFKA_SASL_PASSWORD: "hunter2-secret", KAFKA_SASL_PASSWORD_FILE: "/etc/hostname" },
      /^config: set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both$/,
    ],
    ["a Redis CA without rediss://", { REDIS_CA_FILE: "/etc/hostname" }, /^config: REDIS_CA_FILE is set, which needs a rediss:\/\/ REDIS_URL$/],
  ];
  for (const [what, env, line] of cases) {
    test(`${what}: one line, no secret`, () => {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(line);
      expect((error as Error).message).not.toContain("hunter2-secret");
    });
  }

  test("a _FILE secret becomes the value, trimmed; a REDIS_URL's password is not shown in its error", () => {
    const file = join(root, "password");
    writeFileSync(file, "from-a-file\n");
    const config = loadConfig({ KAFKA_SASL_MECHANISM: "SCRAM-SHA-512", KAFKA_SASL_USERNAME: "u", KAFKA_SASL_PASSWORD_FILE: file, REDIS_PASSWORD_FILE: file });
    expect([config.KAFKA_SASL_PASSWORD, config.REDIS_PASSWORD]).toEqual(["from-a-file", "from-a-file"]);
    expect(() => loadConfig({ REDIS_URL: "redis://user:hunter2-secret@host:6379 x" })).toThrow('config: REDIS_URL="redis://user:***@host:6379 x" is not allowed');
  });
});

describe("the broker refuses a setting: one line naming it", () => {
  test("the right settings connect", async () => {
    expect(await attempt({})).toBe("connected");
  });

  test("a wrong password", async () => {
    const line = await attempt({ KAFKA_SASL_PASSWORD_FILE: "", KAFKA_SASL_PASSWORD: "not-the-password" });
    expect(line).toMatch(
      /^kafka: the broker at localhost:\d+ refused KAFKA_SASL_USERNAME="btc" with KAFKA_SASL_PASSWORD over KAFKA_SASL_MECHANISM=SCRAM-SHA-512: ".*invalid credentials.*"$/,
    );
    expect(line).not.toContain("not-the-password");
    expectNoSecret(line);
  });

  test("a wrong password from a file names the file", async () => {
    const file = join(root, "wrong.password");
    writeFileSync(file, "wrong-from-file\n");
    const line = await attempt({ KAFKA_SASL_PASSWORD_FILE: file });
    expect(line).toStartWith(`kafka: the broker at localhost:${stack.env.KAFKA_BROKERS?.split(":")[1]} refused KAFKA_SASL_USERNAME="btc" with KAFKA_SASL_PASSWORD_FILE="${file}"`);
    expect(line).not.toContain("wrong-from-file");
  });

  test("an unknown user", async () => {
    expect(await attempt({ KAFKA_SASL_USERNAME: "nobody" })).toMatch(
      /refused KAFKA_SASL_USERNAME="nobody" with KAFKA_SASL_PASSWORD_FILE=".*" over KAFKA_SASL_MECHANISM=SCRAM-SHA-512: ".*invalid credentials/,
    );
  });

  for (const mechanism of ["SCRAM-SHA-256", "PLAIN"]) {
    test(`a mechanism the broker does not offer (${mechanism})`, async () => {
      const line = await attempt({ KAFKA_SASL_MECHANISM: mechanism });
      expect(line).toMatch(
        new RegExp(`^kafka: the broker at localhost:\\d+ does not offer KAFKA_SASL_MECHANISM=${mechanism}: "The broker does not support the requested SASL mechanism"$`),
      );
      expectNoSecret(line);
    });
  }

  test("a CA that did not sign the broker's certificate, and no CA at all (the system's)", async () => {
    const other = otherCertificates();
    expect(await attempt({ KAFKA_CA_FILE: other.ca })).toMatch(
      new RegExp(`^kafka: the TLS certificate of the broker at localhost:\\d+ is not trusted by KAFKA_CA_FILE="${other.ca}": ".+" \\([A-Z_]+\\)$`),
    );
    expect(await attempt({ KAFKA_CA_FILE: "" })).toMatch(
      /^kafka: the TLS certificate of the broker at localhost:\d+ is not trusted by the system's certificate authorities \(KAFKA_CA_FILE is not set\): ".+" \([A-Z_]+\)$/,
    );
  });

  test("a client certificate from another CA, and none (the broker wants one: mutual TLS)", async () => {
    const other = otherCertificates();
    const line = await attempt({ KAFKA_CERT_FILE: other.clientCert, KAFKA_KEY_FILE: other.clientKey });
    expect(line).toMatch(new RegExp(`^kafka: the broker at localhost:\\d+ refused the TLS handshake with KAFKA_CERT_FILE="${other.clientCert}": ".+"$`));
    expect(await attempt({ KAFKA_CERT_FILE: "", KAFKA_KEY_FILE: "" })).toMatch(
      /^kafka: the broker at localhost:\d+ refused the TLS handshake with no client certificate \(KAFKA_CERT_FILE is not set\): ".+"$/,
    );
  });

  test("TLS against a plaintext port", async () => {
    const line = await attempt({ KAFKA_BROKERS: plaintextBrokers() });
    expect(line).toMatch(new RegExp(`^kafka: KAFKA_TLS=true, but the broker at ${plaintextBrokers()} answers in plaintext: ".+"$`));
  });

  test("plaintext against the TLS port", async () => {
    const line = await attempt({ KAFKA_TLS: "false", KAFKA_CA_FILE: "", KAFKA_CERT_FILE: "", KAFKA_KEY_FILE: "" });
    expect(line).toMatch(/^kafka: KAFKA_TLS=false, but the broker at localhost:\d+ speaks TLS \(it closed the connection at the first request\): ".+"$/);
  });

  test("SASL against a listener that has none", async () => {
    const line = await attempt({ KAFKA_BROKERS: plaintextBrokers(), KAFKA_TLS: "false", KAFKA_CA_FILE: "", KAFKA_CERT_FILE: "", KAFKA_KEY_FILE: "" });
    expect(line).toMatch(/^kafka: KAFKA_SASL_MECHANISM=SCRAM-SHA-512 is set, but the broker at .+ takes no SASL on that listener: ".+"$/);
  });

  test("a broker that is only away gives no line: the roles retry it as before", async () => {
    const line = await attempt({ KAFKA_BROKERS: `localhost:${freePort()}` });
    expect(line).toStartWith("no line; the error: ");
  });
});

describe("a role given a bad setting exits 2 with the one line", () => {
  const roles: [string, string[]][] = [
    ["api", ["src/roles/api.ts"]],
    ["producer", ["src/roles/producer.ts"]],
    [`consumer-${PROJECTIONS[0]?.role}`, ["src/roles/consumer.ts", PROJECTIONS[0]?.role as string]],
    ["rebuild", ["src/roles/rebuild.ts"]],
  ];
  for (const [role, entry] of roles) {
    test(`${role}: a wrong Kafka password`, async () => {
      const wrong = join(root, "wrong.password");
      writeFileSync(wrong, "wrong-from-file\n");
      const proc = Bun.spawn([process.execPath, ...entry], {
        cwd: ROOT,
        env: {
          ...stack.roleEnv(role),
          KAFKA_SASL_PASSWORD_FILE: wrong,
          PORT: String(freePort()),
          TOPIC: "settings",
          // A prefix the shared stack's Redis users serve (tools/testkit/secure.ts), this file's own.
          REDIS_PREFIX: "secset",
          FEED_URL: "ws://127.0.0.1:9/none",
          LOG_LEVEL: "info",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const killer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      clearTimeout(killer);
      const lines = `${out}${err}`.trim().split("\n");
      expect({ code, last: lines.at(-1) }).toEqual({
        code: 2,
        last: `kafka: the broker at ${stack.env.KAFKA_BROKERS} refused KAFKA_SASL_USERNAME="btc" with KAFKA_SASL_PASSWORD_FILE="${wrong}" over KAFKA_SASL_MECHANISM=SCRAM-SHA-512: "SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"`,
      });
      expectNoSecret(`${out}${err}`);
      expect(`${out}${err}`).not.toContain("wrong-from-file");
    });
  }
});
