/**
 * Configuration: the one place that reads the environment.
 *
 * Every option has one TypeBox schema with its default and a `description` that says what is
 * allowed; the README's configuration table mirrors it. `loadConfig` converts, defaults and
 * checks the variables; `configOrExit` stops the process with one line naming the variable,
 * the value and what is allowed.
 */

import { readFileSync } from "node:fs";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Int = (def: number, minimum: number, maximum: number, what: string) =>
  Type.Integer({ default: def, minimum, maximum, description: `${what}: an integer from ${minimum} to ${maximum}` });

const OneOf = <T extends string>(def: T, values: readonly T[], what: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { default: def, description: `${what}: one of ${values.join(", ")}` },
  );

/** A file's path: empty when not used; checked by `loadConfig` (it exists, and holds what it should). */
const File = (what: string) => Type.String({ default: "", description: `${what}: a path` });

/** The SASL mechanisms the Kafka client speaks (kafkajs' built-in ones, less AWS IAM and OAuth). */
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;

export const EnvSchema = Type.Object({
  KAFKA_BROKERS: Type.String({
    default: "localhost:9092",
    pattern: "^[A-Za-z0-9._-]+:[0-9]{1,5}(,[A-Za-z0-9._-]+:[0-9]{1,5})*$",
    description: "Kafka bootstrap brokers: a comma-separated list of host:port",
  }),
  KAFKA_TLS: OneOf("false", ["false", "true"] as const, "connect to Kafka over TLS (managed Kafka services need it)"),
  KAFKA_CA_FILE: File("a PEM file of the certificate authorities that Kafka's certificates are checked against, instead of the system's; needs KAFKA_TLS=true"),
  KAFKA_CERT_FILE: File("a PEM file of this client's certificate, for brokers that ask for mutual TLS; needs KAFKA_TLS=true and KAFKA_KEY_FILE"),
  KAFKA_KEY_FILE: File("a PEM file of the private key of KAFKA_CERT_FILE"),
  KAFKA_SASL_MECHANISM: Type.Union([Type.Literal(""), ...SASL_MECHANISMS.map((m) => Type.Literal(m))], {
    default: "",
    description: `SASL authentication with Kafka: one of ${SASL_MECHANISMS.join(", ")}; empty: none. Needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or their _FILE variants)`,
  }),
  KAFKA_SASL_USERNAME: Type.String({ default: "", description: "the SASL user name" }),
  KAFKA_SASL_USERNAME_FILE: File("a file holding the SASL user name (a mounted secret), instead of KAFKA_SASL_USERNAME"),
  KAFKA_SASL_PASSWORD: Type.String({ default: "", description: "the SASL password; never logged" }),
  KAFKA_SASL_PASSWORD_FILE: File("a file holding the SASL password (a mounted secret), instead of KAFKA_SASL_PASSWORD"),
  REDIS_URL: Type.String({
    default: "redis://localhost:6379",
    pattern: "^rediss?://[^\\s,]+(,rediss?://[^\\s,]+)*$",
    description:
      "Redis server: a redis:// or rediss:// (TLS) URL, with a user and password if it takes them (redis://user:password@host:port); for a Redis Cluster, several seed nodes' URLs, comma-separated",
  }),
  REDIS_CA_FILE: File("a PEM file of the certificate authorities that Redis's certificate is checked against, instead of the system's; needs rediss://"),
  REDIS_CERT_FILE: File("a PEM file of this client's certificate, for a Redis that asks for mutual TLS; needs rediss:// and REDIS_KEY_FILE"),
  REDIS_KEY_FILE: File("a PEM file of the private key of REDIS_CERT_FILE"),
  REDIS_USERNAME: Type.String({
    default: "",
    pattern: "^[^\\s]*$",
    description: "the Redis ACL user of this process, instead of the one in REDIS_URL: each role can log in as its own (tools/infra/acl.ts makes them)",
  }),
  REDIS_PASSWORD: Type.String({ default: "", description: "the password of the Redis user, instead of the one in REDIS_URL; never logged" }),
  REDIS_PASSWORD_FILE: File("a file holding the Redis password (a mounted secret), instead of REDIS_PASSWORD"),
  FEED_URL: Type.String({
    default: "wss://ws.blockchain.info/inv",
    pattern: "^wss?://[^\\s]+$",
    description: "blockchain.com-compatible websocket feed: a ws:// or wss:// URL",
  }),
  PORT: Int(3000, 1, 65535, "HTTP port of the API"),
  TOPIC: Type.String({
    default: "bitcoin_transactions",
    pattern: "^[A-Za-z0-9._-]{1,200}$",
    description: "Kafka topic: letters, digits, '.', '_' or '-' (1 to 200)",
  }),
  GROUP_PREFIX: Type.String({
    default: "",
    pattern: "^[A-Za-z0-9._-]{0,100}$",
    description: "prefix of the consumer group ids, to run several pipelines on one cluster: letters, digits, '.', '_' or '-'",
  }),
  TOPIC_PARTITIONS: Int(3, 1, 1000, "partitions of the topic when it is created"),
  TOPIC_REPLICATION: Int(1, 1, 10, "replication factor of the topic when it is created"),
  TOPIC_RETENTION_HOURS: Int(
    26,
    4,
    8760,
    "retention of the topic when it is created, in hours (26 covers the 24 hours of /transactions_count_per_hour when a projection is replayed)",
  ),
  PARTITIONER: OneOf("minute", ["minute", "hash"] as const, "how records are routed to partitions"),
  REDIS_PREFIX: Type.String({
    default: "btc",
    pattern: "^[A-Za-z0-9_.-]{1,64}$",
    description: "Redis key namespace (becomes the {hash tag} of every key): letters, digits, '_', '.' or '-'",
  }),
  TX_CAP: Int(1_000_000, 1, 100_000_000, "most transactions kept in Redis"),
  STUCK_EXIT_SECONDS: Int(
    120,
    10,
    86_400,
    "a consumer process whose partition has records to apply and has not moved for this long exits (1, one line saying why) so that its supervisor restarts it",
  ),
  ADDRESS_SHARDS: Int(
    1,
    1,
    64,
    "hash tags the address projection is spread over, each with its own consumer group, so a Redis Cluster can hold it on several masters (1: one tag, with everything else)",
  ),
  PRODUCER_BUFFER_MAX: Int(100_000, 1, 10_000_000, "transactions the producer holds in memory while Kafka is unreachable"),
  PRODUCER_BUFFER_BYTES: Int(
    67_108_864,
    1_000_000,
    17_179_869_184,
    "bytes of records (key, value and headers) the producer holds in memory while Kafka is unreachable, beside PRODUCER_BUFFER_MAX; at least 1000000 so the largest record (900 KB) fits",
  ),
  CORS_ORIGIN: Type.String({
    default: "*",
    description: "Access-Control-Allow-Origin of the API: * or a comma-separated list of origins",
  }),
  LOG_LEVEL: OneOf("info", ["debug", "info", "warn", "error"] as const, "log level"),
  RATE_LIMIT_PER_MIN: Int(0, 0, 1_000_000, "requests a minute the API answers per client address, 0 = no limit"),
  TRUST_PROXY: Type.String({
    default: "false",
    pattern: "^(false|true|[0-9]|10)$",
    description:
      "how many proxies you run in front of the API, each appending the address it saw to X-Forwarded-For; the client address that RATE_LIMIT_PER_MIN and the /stream caps count (an IPv6 client by its /64) is then the n-th entry from the right, the one your outermost proxy added (the left-most entry when there are fewer, the socket's address when there is no header); 0 takes the socket's address and ignores the header: false (= 0), true (= 1) or an integer from 0 to 10",
  }),
  STREAM_MAX_CLIENTS: Int(1_000, 1, 100_000, "concurrent /stream connections the API accepts"),
  STREAM_MAX_PER_ADDRESS: Int(
    8,
    1,
    100_000,
    "concurrent /stream connections the API accepts from one client address (an IPv6 client by its /64; 1 once half of STREAM_MAX_CLIENTS is taken)",
  ),
});

export type Config = Readonly<Static<typeof EnvSchema>>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    readonly allowed: string,
    /** The line, when it is not "<variable>=<value> is not allowed; expected <allowed>". */
    line?: string,
  ) {
    super(line ?? `config: ${variable}=${JSON.stringify(shown(variable, value ?? ""))} is not allowed; expected ${allowed}`);
    this.name = "ConfigError";
  }
}

/** Variables whose value is a secret: no message, log line or answer shows it. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(["KAFKA_SASL_PASSWORD", "REDIS_PASSWORD"]);

/** A value as a message may show it: a secret as `***`, a URL's password as `***`. */
function shown(variable: string, value: string): string {
  if (SECRET_VARIABLES.has(variable)) return value ? "***" : "";
  return value.replace(/(\w+:\/\/[^:/@\s,]*:)[^@\s,]*@/g, "$1***@");
}

/** Integers are written as digits only: "3.5" or "1e3" stay strings and fail the check. */
const convert = (schema: TSchema, text: string): unknown => (schema.type === "integer" && /^-?\d+$/.test(text) ? Number(text) : text);

/** Reads the variables this service knows from `env`, applies defaults, converts and checks. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(EnvSchema.properties) as [string, TSchema][]) {
    const given = env[name];
    // An empty variable means "not set": the default applies.
    const value = given === undefined || given === "" ? schema.default : convert(schema, given.trim());
    if (!Value.Check(schema, value)) throw new ConfigError(name, given, schema.description ?? "a valid value");
    raw[name] = value;
  }
  checkSecurity(raw as Static<typeof EnvSchema>);
  return Object.freeze(raw as Static<typeof EnvSchema>);
}

/** The text of the file `variable` names, or one line saying why it cannot be read. */
function readNamed(config: Record<string, unknown>, variable: string): string {
  const path = String(config[variable]);
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(variable, path, "a readable file", `config: ${variable}=${JSON.stringify(path)} cannot be read (${why})`);
  }
}

/** A PEM file of certificates (`cert`) or of a private key (`key`): read and checked now, so a wrong path stops the start. */
function checkPem(config: Record<string, unknown>, variable: string, kind: "cert" | "key"): void {
  if (!config[variable]) return;
  const text = readNamed(config, variable);
  const ok = kind === "cert" ? text.includes("-----BEGIN CERTIFICATE-----") : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
  if (!ok) {
    const path = JSON.stringify(config[variable]);
    throw new ConfigError(variable, String(config[variable]), "", `config: ${variable}=${path} holds no PEM ${kind === "cert" ? "certificate" : "private key"}`);
  }
}

/** `name` from `name_FILE` when that is set (its content, trimmed), which excludes setting both. */
function fromFile(config: Record<string, unknown>, name: string): void {
  const fileVariable = `${name}_FILE`;
  if (!config[fileVariable]) return;
  if (config[name]) throw new ConfigError(name, "", "", `config: set ${name} or ${fileVariable}, not both`);
  const text = readNamed(config, fileVariable).trim();
  if (!text) throw new ConfigError(fileVariable, String(config[fileVariable]), "", `config: ${fileVariable}=${JSON.stringify(config[fileVariable])} is empty`);
  config[name] = text;
}

const needs = (variable: string, what: string) => new ConfigError(variable, "", "", `config: ${variable} is set, which needs ${what}`);

/**
 * The TLS and SASL settings of Kafka and Redis, taken together: files are read now (a secret's
 * `_FILE` becomes its value), and a setting that needs another says so. No line shows a secret.
 */
function checkSecurity(config: Record<string, unknown>): void {
  for (const name of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "REDIS_PASSWORD"]) fromFile(config, name);
  for (const [prefix, tls, tlsIs] of [
    ["KAFKA", config.KAFKA_TLS === "true", "KAFKA_TLS=true"],
    [
      "REDIS",
      String(config.REDIS_URL)
        .split(",")
        .every((u) => u.trim().startsWith("rediss://")),
      "a rediss:// REDIS_URL",
    ],
  ] as const) {
    for (const file of ["CA_FILE", "CERT_FILE", "KEY_FILE"]) {
      if (config[`${prefix}_${file}`] && !tls) throw needs(`${prefix}_${file}`, tlsIs);
    }
    const [cert, key] = [`${prefix}_CERT_FILE`, `${prefix}_KEY_FILE`];
    if (config[cert] && !config[key]) throw needs(cert, key);
    if (config[key] && !config[cert]) throw needs(key, cert);
    checkPem(config, `${prefix}_CA_FILE`, "cert");
    checkPem(config, cert, "cert");
    checkPem(config, key, "key");
  }
  if (config.KAFKA_SASL_MECHANISM) {
    for (const name of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]) {
      if (!config[name]) throw needs(`KAFKA_SASL_MECHANISM=${config.KAFKA_SASL_MECHANISM}`, `${name} (or ${name}_FILE)`);
    }
  } else {
    for (const name of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]) {
      if (config[name]) throw needs(config[`${name}_FILE`] ? `${name}_FILE` : name, `KAFKA_SASL_MECHANISM (${SASL_MECHANISMS.join(", ")})`);
    }
  }
}

/** `loadConfig` for a role's entry point: a bad value prints one line and exits with status 2. */
export function configOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}

/** `KAFKA_BROKERS` as a list. */
export const brokerList = (config: Pick<Config, "KAFKA_BROKERS">): string[] => config.KAFKA_BROKERS.split(",");
