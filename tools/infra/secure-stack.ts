/**
 * The secure local stack of `bun run infra --secure` (and `demo --secure`, and the secure tests):
 *   - one KRaft Kafka broker whose only client listener is SASL_SSL (SCRAM-SHA-512, and a client
 *     certificate of the CA: mutual TLS), its controller listener on localhost
 *     (tools/infra/kafka.ts `security`);
 *   - a redis-server on TLS only (`--port 0`), with an ACL file of one user per role, made from
 *     the registry (tools/infra/acl.ts);
 *   - the certificates of both from one generated CA, and every password in a file of its own
 *     (tools/infra/secure.ts), all under one folder: `.cache/secure` for `infra --secure`, a
 *     temporary folder for tests. Nothing of it is in the repository.
 * `env` holds the variables every role takes (passwords as `_FILE` paths, so none is printed);
 * `roleEnv(role)` adds the role's own Redis user.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/domain/config.ts";
import { aclFile, type RedisRoleUser, redisRoleUsers } from "./acl.ts";
import { type LocalKafka, SECURE_MECHANISM, startKafka } from "./kafka.ts";
import { CACHE_DIR, portAnswers } from "./process.ts";
import { type LocalRedis, startRedis } from "./redis.ts";
import { type Certificates, makeCertificates, secret } from "./secure.ts";

export const DEFAULT_SECURE_KAFKA_PORT = 9095;
export const DEFAULT_SECURE_REDIS_PORT = 6380;
/** Where `bun run infra --secure` keeps its certificates, passwords and data between runs. */
export const SECURE_DATA_DIR = join(CACHE_DIR, "secure");
/** The Kafka user of the roles. */
export const KAFKA_CLIENT_USER = "btc";

export interface SecureStackOptions {
  /** Folder of the certificates, passwords and data; default `.cache/secure`. */
  dir?: string;
  kafkaPort?: number;
  redisPort?: number;
  /** REDIS_PREFIX the ACL users are made for (default the configuration's default, `btc`). */
  prefix?: Config["REDIS_PREFIX"];
  log?: (line: string) => void;
}

export interface SecureStack {
  readonly dir: string;
  readonly certs: Certificates;
  /** What this call started (nothing when it found the stack running). */
  readonly kafka?: LocalKafka;
  readonly redis?: LocalRedis;
  /** The variables every role takes: brokers, TLS, SASL, REDIS_URL and its CA. */
  readonly env: Readonly<Record<string, string>>;
  /** The ACL users, one per role. */
  readonly users: readonly RedisRoleUser[];
  /** `env` and `role`'s own Redis user (`api`, `producer`, `rebuild`, `consumer-<role>`). */
  roleEnv(role: string): Record<string, string>;
  /** The password file of a Redis user (for tests). */
  passwordFile(user: RedisRoleUser): string;
  stop(): Promise<void>;
}

/**
 * Where `infra --secure` and `demo --secure` put the stack: on the ports of KAFKA_BROKERS and
 * REDIS_URL when the environment sets them (one localhost broker, one seed), else on 9095 and
 * 6380; in BTC_SECURE_DIR when set, else `.cache/secure`.
 */
export function secureStackPorts(env: Record<string, string | undefined>): Pick<SecureStackOptions, "kafkaPort" | "redisPort" | "dir"> {
  const port = (text: string | undefined, pattern: RegExp) => {
    const found = text ? pattern.exec(text.trim()) : null;
    if (text && !found) throw new Error(`secure stack: ${text} is not one address on this machine; --secure starts one broker and one Redis`);
    return found ? Number(found[1]) : undefined;
  };
  return {
    kafkaPort: port(env.KAFKA_BROKERS, /^(?:localhost|127\.0\.0\.1):(\d+)$/),
    redisPort: port(env.REDIS_URL, /^rediss?:\/\/(?:[^@/]*@)?(?:localhost|127\.0\.0\.1):(\d+)\/?$/),
    dir: env.BTC_SECURE_DIR || undefined,
  };
}

/** Certificates, passwords, ACL users and variables of the secure stack in `dir`; starts nothing. */
export function secureStackFiles(opts: SecureStackOptions = {}) {
  const dir = opts.dir ?? SECURE_DATA_DIR;
  const kafkaPort = opts.kafkaPort ?? DEFAULT_SECURE_KAFKA_PORT;
  const redisPort = opts.redisPort ?? DEFAULT_SECURE_REDIS_PORT;
  const certs = makeCertificates(join(dir, "certs"));
  const secrets = join(dir, "secrets");
  const kafkaUser = secret(secrets, `kafka-${KAFKA_CLIENT_USER}`);
  const brokerUser = secret(secrets, "kafka-broker");
  const users = redisRoleUsers({ prefix: opts.prefix ?? "btc" });
  const passwordFile = (user: RedisRoleUser) => secret(secrets, `redis-${user.name}`).file;
  const env: Record<string, string> = {
    KAFKA_BROKERS: `localhost:${kafkaPort}`,
    KAFKA_TLS: "true",
    KAFKA_CA_FILE: certs.ca,
    KAFKA_CERT_FILE: certs.clientCert,
    KAFKA_KEY_FILE: certs.clientKey,
    KAFKA_SASL_MECHANISM: SECURE_MECHANISM,
    KAFKA_SASL_USERNAME: KAFKA_CLIENT_USER,
    KAFKA_SASL_PASSWORD_FILE: kafkaUser.file,
    REDIS_URL: `rediss://127.0.0.1:${redisPort}`,
    REDIS_CA_FILE: certs.ca,
  };
  const roleEnv = (role: string): Record<string, string> => {
    const user = users.find((u) => u.role === role);
    if (!user) throw new Error(`secure stack: no Redis user for role ${JSON.stringify(role)}; the roles: ${users.map((u) => u.role).join(", ")}`);
    return { ...env, REDIS_USERNAME: user.name, REDIS_PASSWORD_FILE: passwordFile(user) };
  };
  return {
    dir,
    kafkaPort,
    redisPort,
    certs,
    env,
    users,
    roleEnv,
    passwordFile,
    kafkaSecurity: {
      certs,
      broker: { name: "broker", password: brokerUser.value },
      users: [{ name: KAFKA_CLIENT_USER, password: kafkaUser.value }],
    },
    acl: () => aclFile(users, (user) => secret(secrets, `redis-${user.name}`).value),
  };
}

/**
 * Starts the secure stack on its ports, or uses it when both already answer (a running
 * `bun run infra --secure` on the same folder); one line when only one of them answers.
 */
export async function startSecureStack(opts: SecureStackOptions = {}): Promise<SecureStack> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const files = secureStackFiles(opts);
  const { dir, kafkaPort, redisPort, certs } = files;
  const up = await Promise.all([portAnswers("127.0.0.1", kafkaPort), portAnswers("127.0.0.1", redisPort)]);
  const common = { dir, certs, env: files.env, users: files.users, roleEnv: files.roleEnv, passwordFile: files.passwordFile };
  if (up[0] && up[1]) {
    log(`secure stack: using the Kafka on port ${kafkaPort} and the Redis on port ${redisPort} (certificates and passwords in ${dir})`);
    return { ...common, stop: async () => {} };
  }
  if (up[0] || up[1]) {
    throw new Error(`secure stack: port ${up[0] ? kafkaPort : redisPort} answers and port ${up[0] ? redisPort : kafkaPort} does not: stop what runs there, or start both`);
  }
  const aclPath = join(dir, "secrets", "users.acl");
  writeFileSync(aclPath, files.acl(), { mode: 0o600 });
  log(`secure stack: starting a SASL_SSL Kafka on port ${kafkaPort} and a TLS Redis with ACL users on port ${redisPort} (certificates and passwords in ${dir})`);
  const [kafka, redis] = await Promise.allSettled([
    startKafka({ ports: [kafkaPort], dataDir: join(dir, "kafka"), log, security: files.kafkaSecurity }),
    startRedis({ port: redisPort, dataDir: join(dir, "redis"), persist: true, tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca }, aclFile: aclPath }),
  ]);
  const stop = async () => {
    await Promise.all([kafka.status === "fulfilled" && kafka.value.stop(), redis.status === "fulfilled" && redis.value.stop()]);
  };
  if (kafka.status === "rejected" || redis.status === "rejected") {
    await stop();
    throw kafka.status === "rejected" ? kafka.reason : (redis as PromiseRejectedResult).reason;
  }
  return { ...common, kafka: kafka.value, redis: redis.value, stop };
}
