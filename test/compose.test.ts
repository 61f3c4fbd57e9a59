/**
 * compose.yaml cannot run here (no Docker engine); this checks what it promises: the same Kafka
 * version as the local stack, Redis, one service per role with the environment the roles read,
 * health checks, start-up order, and that it opens no door but the API's port: Kafka's only
 * client listener is SASL_SSL on the compose network, Redis is TLS only with one ACL user per
 * role, and every secret is a file (compose `secrets:`, made by tools/infra/compose-secrets.ts),
 * never an environment value. test/secure-compose.test.ts runs the two servers' start here.
 *
 * compose.cluster.yaml, an override of it, is merged onto it here the way compose merges files,
 * and the result checked: three brokers in one KRaft quorum with the local cluster's replication
 * defaults, a Redis Cluster of six nodes joined by a one-shot init service, the roles pointed at both
 * and started after them, and still no door but the API's port.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json";
import { EnvSchema, loadConfig } from "../src/domain/config.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { redisSeeds } from "../src/redis/connection.ts";
import { COMPOSE_FILES, composeBlock, composeRedisUser, GENERATED } from "../tools/docs/compose.ts";
import { redisRoleUsers } from "../tools/infra/acl.ts";
import { COMPOSE_REDIS_PREFIX, writeComposeSecrets } from "../tools/infra/compose-secrets.ts";
import { CLUSTER_BROKER_DEFAULTS, KAFKA_VERSION } from "../tools/infra/kafka.ts";

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  profiles?: string[];
  ports?: unknown[];
  expose?: unknown[];
  network_mode?: string;
  volumes?: string[];
  restart?: string;
  secrets?: string[];
}
const composeText = await Bun.file(`${import.meta.dir}/../compose.yaml`).text();
const compose = Bun.YAML.parse(composeText) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
const services = compose.services;
/** The Kafka service's start script, and the broker properties it writes (its first here-document). */
const kafkaScript = String(services.kafka?.command?.at(-1));
const brokerProps = new Map(
  (/cat > "\$\$props" <<EOF\n([\s\S]*?)\nEOF/.exec(kafkaScript)?.[1] ?? "")
    .split("\n")
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
);
/** The secret files, as tools/infra/compose-secrets.ts makes them, in a folder of this test. */
const secretsDir = mkdtempSync(join(tmpdir(), "btc-compose-secrets-"));
const madeSecrets = writeComposeSecrets(secretsDir);
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));
const dockerfile = await Bun.file(`${import.meta.dir}/../Dockerfile`).text();

/** How compose.yaml writes the Redis password: required, no default. */
const REDIS_PASSWORD = "${REDIS_PASSWORD:?set REDIS_PASSWORD (e.g. in .env)}";

/** Role services: those that run `bun run <script>`. */
const roles = Object.entries(services).filter(([, s]) => s.command?.[0] === "bun" && s.command[1] === "run");

describe("compose.yaml", () => {
  test("runs the local stack's Apache Kafka version, in KRaft mode, with a health check", () => {
    const kafka = services.kafka;
    expect(kafka?.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
    expect(brokerProps.get("process.roles")).toBe("broker,controller");
    expect(kafkaScript).toContain("/opt/kafka/bin/kafka-storage.sh format --standalone");
    expect(kafka?.healthcheck?.test.join(" ")).toContain("kafka-broker-api-versions.sh --bootstrap-server kafka:19092 --command-config /tmp/client.properties");
  });

  test("runs Redis with persistence and a health check", () => {
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(services.redis?.command?.join(" ")).toContain("--appendonly yes");
    expect(services.redis?.healthcheck?.test.join(" ")).toContain("redis-cli --tls --cacert /run/secrets/ca -h localhost ping");
  });

  test("has one service per role: a script of package.json, and `bun run consumer <role>` once per projection of the registry", () => {
    const commands = roles.map(([, s]) => s.command?.slice(2).join(" ")).sort();
    expect(commands).toEqual(["api", ...PROJECTIONS.map((p) => `consumer ${p.role}`), "producer", "sim --port 8080"].sort());
    for (const script of new Set(roles.map(([, s]) => s.command?.[2]))) expect(Object.keys(pkg.scripts)).toContain(script as string);
    // The aliases `consumer:<role>` are gone: one command takes the role.
    expect(Object.keys(pkg.scripts).filter((name) => name.startsWith("consumer:"))).toEqual([]);
  });

  test("runs every consumer group of the registry as a service, as many replicas as its spec's processes", () => {
    for (const { role, processes } of PROJECTIONS) {
      const service = services[`consumer-${role}`];
      expect({ role, command: service?.command }).toEqual({ role, command: ["bun", "run", "consumer", role] });
      expect({ role, replicas: service?.deploy?.replicas ?? 1 }).toEqual({ role, replicas: processes });
      expect({ role, health: service?.healthcheck?.test }).toEqual({ role, health: ["CMD", "bun", "src/roles/alive.ts", `consumer-${role}`] });
    }
  });

  test("holds the parts `bun run docs:compose` generates from the registry (consumer services, their Redis users' secrets), in both files", async () => {
    for (const [kind, path] of Object.entries(COMPOSE_FILES) as [keyof typeof COMPOSE_FILES, string][]) {
      for (const [name, make] of Object.entries(GENERATED[kind])) {
        expect({ path, name, block: composeBlock(await Bun.file(path).text(), name) }).toEqual({ path, name, block: make() });
      }
    }
  });

  test("gives every role only variables the configuration knows: Kafka over SASL_SSL, Redis over TLS as the role's own ACL user", () => {
    const known = Object.keys(EnvSchema.properties);
    for (const [name, service] of roles) {
      const env = service.environment ?? {};
      for (const variable of Object.keys(env)) expect(known).toContain(variable);
      expect({ name, kafka: [env.KAFKA_BROKERS, env.KAFKA_TLS, env.KAFKA_CA_FILE, env.KAFKA_SASL_MECHANISM, env.KAFKA_SASL_USERNAME, env.KAFKA_SASL_PASSWORD_FILE] }).toEqual({
        name,
        kafka: ["kafka:19092", "true", "/run/secrets/ca", "SCRAM-SHA-512", "btc", "/run/secrets/kafka_password"],
      });
      expect({ name, redis: [env.REDIS_URL, env.REDIS_CA_FILE] }).toEqual({ name, redis: ["rediss://redis:6379", "/run/secrets/ca"] });
      if (name === "sim") continue; // the simulator uses neither
      const user = composeRedisUser(name);
      expect({ name, user: env.REDIS_USERNAME, password: env.REDIS_PASSWORD_FILE }).toEqual({ name, user: user.name, password: `/run/secrets/${user.secret}` });
      // Every file a variable names is a secret the service mounts.
      const files = Object.values(env).filter((v) => String(v).startsWith("/run/secrets/"));
      for (const file of files) expect({ name, mounted: service.secrets?.includes(String(file).slice("/run/secrets/".length)) }).toEqual({ name, mounted: true });
    }
  });

  test("with the files compose-secrets.ts makes mounted, every role's configuration loads (certificates, passwords)", () => {
    // What compose mounts at /run/secrets/<name>: the file its top-level `secrets:` names, here in the test's folder.
    const mounted = (value: string) =>
      value.replace(/^\/run\/secrets\/(.+)$/, (_, name: string) => join(secretsDir, (compose.secrets[name]?.file ?? "").replace(".cache/compose/", "")));
    for (const [name, service] of roles) {
      // What compose substitutes: `${NAME:-default}` with no NAME set is its default.
      const substituted = (v: string) => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
      const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, mounted(substituted(String(v)))]));
      const config = loadConfig(env);
      expect({ name, tls: config.KAFKA_TLS, password: config.KAFKA_SASL_PASSWORD.length }).toEqual({ name, tls: "true", password: 64 });
      if (name !== "sim") expect({ name, redis: config.REDIS_PASSWORD.length }).toEqual({ name, redis: 64 });
    }
  });

  test("every secret is a file compose mounts, made by compose-secrets.ts; no variable holds a password", () => {
    const files = Object.values(compose.secrets).map((s) => s.file);
    for (const file of files) expect(file).toStartWith(".cache/compose/");
    expect(files.map((f) => f.replace(".cache/compose/", "")).every((f) => madeSecrets.includes(f))).toBe(true);
    for (const [name, service] of Object.entries(services)) {
      for (const secret of service.secrets ?? []) expect({ name, secret, defined: secret in compose.secrets }).toEqual({ name, secret, defined: true });
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (/PASSWORD|AUTH|SECRET|KEY$/.test(variable))
          expect({ name, variable, value: String(value) }).toEqual({ name, variable, value: expect.stringMatching(/^\/run\/secrets\//) });
      }
    }
    // Nothing for compose to substitute from the environment but FEED_URL: no password comes that way.
    expect((composeText.match(/\$\{[A-Z_]+/g) ?? []).map((m) => m.slice(2))).toEqual(["FEED_URL"]);
  });

  test("starts roles that need Kafka and Redis after both are healthy", () => {
    for (const [name, service] of roles) {
      if (name === "sim") continue; // the simulator needs neither
      expect(service.depends_on).toEqual({ kafka: { condition: "service_healthy" }, redis: { condition: "service_healthy" } });
    }
  });

  test("builds the roles from the Dockerfile on the pinned official Bun image", () => {
    const bunVersion = pkg.packageManager.replace("bun@", "");
    expect(dockerfile).toMatch(new RegExp(`^FROM oven/bun:${bunVersion.replaceAll(".", "\\.")}`, "m"));
    expect(dockerfile).toContain("bun install --frozen-lockfile");
    for (const [, service] of roles) expect(service.build).toBe(".");
  });

  test("every role restarts when it exits, and the roles without HTTP have a heartbeat health check", () => {
    for (const [name, service] of roles) {
      expect({ name, restart: service.restart }).toEqual({ name, restart: "unless-stopped" });
      if (name === "api" || name === "sim") continue;
      expect({ name, test: service.healthcheck?.test }).toEqual({ name, test: ["CMD", "bun", "src/roles/alive.ts", name] });
    }
  });

  test("the API publishes its port and has a health check", () => {
    expect(services.api?.environment?.PORT).toBe(3000);
    expect(services.api?.healthcheck?.test.join(" ")).toContain("/health");
  });

  test("publishes only the API's port", () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.network_mode).toBeUndefined(); // network_mode: host would publish everything
      if (name !== "api") expect({ name, ports: service.ports }).toEqual({ name, ports: undefined });
    }
    expect(services.api?.ports).toEqual(["3000:3000"]);
  });

  test("Kafka's only client listener is SASL_SSL on the compose network; its controller listener is on localhost", () => {
    const listeners = String(brokerProps.get("listeners")).split(",");
    const advertised = String(brokerProps.get("advertised.listeners")).split(",");
    expect(listeners).toEqual(["SASL_SSL://:19092", "CONTROLLER://localhost:9093"]);
    // Clients are told the service's name on the compose network, never the host's.
    expect(advertised).toEqual(["SASL_SSL://kafka:19092", "CONTROLLER://localhost:9093"]);
    expect(brokerProps.get("listener.security.protocol.map")).toBe("CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL");
    expect([brokerProps.get("sasl.enabled.mechanisms"), brokerProps.get("inter.broker.listener.name")]).toEqual(["SCRAM-SHA-512", "SASL_SSL"]);
    expect([brokerProps.get("ssl.keystore.location"), brokerProps.get("ssl.truststore.location")]).toEqual(["/run/secrets/kafka_keystore", "/run/secrets/ca"]);
    // The SCRAM users (the broker's and the roles') are made at format time from the secret files.
    expect(kafkaScript).toContain('--add-scram "SCRAM-SHA-512=[name=broker,password=$$(cat /run/secrets/kafka_broker_password)]"');
    expect(kafkaScript).toContain('--add-scram "SCRAM-SHA-512=[name=btc,password=$$(cat /run/secrets/kafka_password)]"');
    expect(composeText).not.toMatch(/PLAINTEXT:\/\/|localhost:9092/);
  });

  test("Redis is TLS only, with the ACL file of one user per role (the default user off)", async () => {
    const redis = services.redis as Service;
    const command = redis.command ?? [];
    expect(command[0]).toBe("redis-server"); // the image's entrypoint then drops root for the redis user
    expect([flag(command, "--port"), flag(command, "--tls-port"), flag(command, "--aclfile")]).toEqual(["0", "6379", "/run/secrets/redis_acl"]);
    expect(command).not.toContain("--protected-mode");
    expect(command).not.toContain("--requirepass");
    const acl = (await Bun.file(join(secretsDir, "users.acl")).text()).trim().split("\n");
    expect(acl[0]).toStartWith("user default off");
    expect(acl.slice(1).map((line) => line.split(" ")[1])).toEqual(redisRoleUsers({ prefix: COMPOSE_REDIS_PREFIX }).map((u) => u.name));
    expect(String(services.api?.environment?.REDIS_PREFIX)).toBe(COMPOSE_REDIS_PREFIX);
  });

  test("keeps .env and .cache (the secret files) out of the image's build context", async () => {
    const ignored = (await Bun.file(`${import.meta.dir}/../.dockerignore`).text()).split("\n").map((l) => l.trim());
    expect(ignored).toContain(".env");
    expect(ignored).toContain(".cache");
  });
});

// ---- compose.cluster.yaml: an override, merged onto compose.yaml as compose does ----

const clusterText = await Bun.file(`${import.meta.dir}/../compose.cluster.yaml`).text();

/**
 * Parses a compose file keeping what Bun.YAML drops: the `!override` and `!reset` tags of compose
 * (`key: !override` replaces the value of the files before, `key: !reset` removes it) become the keys
 * `key!override` / `key!reset`, which `mergeCompose` reads.
 */
function parseCompose(text: string): Record<string, unknown> {
  return Bun.YAML.parse(text.replace(/^(\s*)([A-Za-z0-9_.-]+): !(override|reset)\b/gm, '$1"$2!$3":')) as Record<string, unknown>;
}

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** A value of the override as compose keeps it: tags applied (`!reset` keys dropped, `!override` names restored). */
function untag(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untag);
  if (!isMap(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key.endsWith("!reset")) continue;
    out[key.replace(/!override$/, "")] = untag(v);
  }
  return out;
}

/** A service's short-syntax volume or port: what compose merges them by (the container path of a volume). */
const uniqueKey = (attribute: string, entry: unknown) => (attribute === "volumes" ? String(entry).split(":")[1] : String(entry));

/**
 * The rules of https://docs.docker.com/reference/compose-file/merge/ for what these files use:
 * mappings merge key by key; command, entrypoint and healthcheck.test are replaced; a service's
 * volumes and ports merge by their unique key (a later one replaces an earlier one); other sequences
 * are appended; scalars are replaced; `!override` replaces, `!reset` removes.
 */
function mergeCompose(base: unknown, override: unknown, path: readonly string[] = []): unknown {
  if (isMap(base) && isMap(override)) {
    const out: Record<string, unknown> = { ...base };
    for (const [rawKey, value] of Object.entries(override)) {
      const tag = /!(override|reset)$/.exec(rawKey)?.[1];
      const key = tag ? rawKey.slice(0, -tag.length - 1) : rawKey;
      if (tag === "reset") delete out[key];
      else if (tag === "override" || !(key in out)) out[key] = untag(value);
      else out[key] = mergeCompose(out[key], value, [...path, key]);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(override)) {
    const attribute = path.at(-1) ?? "";
    const ofService = path[0] === "services" && path.length === 3;
    const isHealthTest = path[0] === "services" && path.length === 4 && path[2] === "healthcheck" && attribute === "test";
    if ((ofService && (attribute === "command" || attribute === "entrypoint")) || isHealthTest) return untag(override);
    if (ofService && (attribute === "volumes" || attribute === "ports")) {
      const replaced = new Set(override.map((entry) => uniqueKey(attribute, entry)));
      return [...base.filter((entry) => !replaced.has(uniqueKey(attribute, entry))), ...override];
    }
    return [...base, ...(untag(override) as unknown[])];
  }
  return untag(override);
}

const clusterOverride = parseCompose(clusterText);
const merged = mergeCompose(Bun.YAML.parse(composeText), clusterOverride) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const ms = merged.services;

/** The brokers: services running the Kafka image. */
const brokers = Object.keys(ms).filter((name) => ms[name]?.image?.startsWith("apache/kafka:"));
/** The Redis Cluster's nodes: redis-server with --cluster-enabled yes. */
const flag = (command: readonly string[] | undefined, name: string) => command?.[command.indexOf(name) + 1];
const redisNodes = Object.keys(ms).filter((name) => {
  const command = ms[name]?.command;
  return command?.[0] === "redis-server" && command.includes("--cluster-enabled") && flag(command, "--cluster-enabled") === "yes";
});
const init = ms["redis-cluster-init"] as Service;
const initScript = String(init.command?.at(-1));
const clusterRoles = Object.entries(ms).filter(([, s]) => s.command?.[0] === "bun" && s.command[1] === "run");
const env = (name: string) => (ms[name]?.environment ?? {}) as Record<string, string | number>;
/** A mounted named volume: [source, target]. */
const mounts = (service: Service | undefined) => (service?.volumes ?? []).map((v) => v.split(":") as [string, string]);

describe("compose.cluster.yaml", () => {
  test("the merge model follows compose: a mapping merges unless !override replaces it; volumes merge by path", () => {
    const base = { services: { a: { depends_on: { x: 1 }, command: ["a"], volumes: ["v:/data", "w:/logs"], profiles: ["p"], environment: { A: 1, B: 2 } } } };
    const tagged = parseCompose("services:\n  a:\n    depends_on: !override\n      y: 1\n    command: [b]\n    volumes: [u:/data]\n    profiles: [q]\n    environment: { B: 3 }\n");
    expect(mergeCompose(base, tagged)).toEqual({
      services: { a: { depends_on: { y: 1 }, command: ["b"], volumes: ["w:/logs", "u:/data"], profiles: ["p", "q"], environment: { A: 1, B: 3 } } },
    });
    // Without the tag, compose would keep the base's dependency: the override's !override is what drops it.
    expect(mergeCompose(base, parseCompose("services:\n  a:\n    depends_on:\n      y: 1\n"))).toMatchObject({ services: { a: { depends_on: { x: 1, y: 1 } } } });
    expect(mergeCompose(base, parseCompose("services:\n  a:\n    profiles: !reset []\n"))).toEqual({
      services: { a: { depends_on: { x: 1 }, command: ["a"], volumes: ["v:/data", "w:/logs"], environment: { A: 1, B: 2 } } },
    });
  });

  test("runs three brokers of the local stack's Kafka version, each broker and controller of one KRaft quorum", () => {
    expect(brokers.sort()).toEqual(["kafka", "kafka-2", "kafka-3"]);
    const ids = brokers.map((name) => Number(env(name).KAFKA_NODE_ID));
    expect(new Set(ids).size).toBe(3);
    const voters = brokers.map((name) => env(name).KAFKA_CONTROLLER_QUORUM_VOTERS);
    expect(new Set(voters).size).toBe(1); // one quorum: every node names the same voters
    // The voters are exactly the brokers: each one's node id at its service name and controller port.
    const own = brokers.map((name) => {
      const controller = String(env(name).KAFKA_LISTENERS)
        .split(",")
        .find((l) => l.startsWith("CONTROLLER://"));
      return `${env(name).KAFKA_NODE_ID}@${name}:${controller?.split(":").at(-1)}`;
    });
    expect(String(voters[0]).split(",").sort()).toEqual(own.sort());
    const clusterIds = new Set(brokers.map((name) => String(env(name).CLUSTER_ID)));
    expect(clusterIds.size).toBe(1); // every node's storage is formatted with the same cluster id
    const [clusterId] = [...clusterIds];
    expect(clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/); // a KRaft cluster id: 16 bytes, base64url
    expect(Buffer.from(String(clusterId), "base64url").length).toBe(16);
    for (const name of brokers) {
      expect({ name, image: ms[name]?.image }).toEqual({ name, image: `apache/kafka:${KAFKA_VERSION}` });
      expect({ name, roles: env(name).KAFKA_PROCESS_ROLES }).toEqual({ name, roles: "broker,controller" });
      expect(ms[name]?.healthcheck?.test.join(" ")).toContain("kafka-broker-api-versions.sh --bootstrap-server localhost:19092");
    }
  });

  test("every broker has the local cluster's replication defaults: topics replicated 3 times, min.insync.replicas 2", () => {
    // The image turns KAFKA_A_B into the property a.b.
    const variable = (property: string) => `KAFKA_${property.toUpperCase().replaceAll(".", "_")}`;
    expect(Object.keys(CLUSTER_BROKER_DEFAULTS)).toContain("min.insync.replicas");
    for (const name of brokers) {
      for (const [property, value] of Object.entries(CLUSTER_BROKER_DEFAULTS)) {
        expect({ name, property, value: env(name)[variable(property)] }).toEqual({ name, property, value });
      }
      const replication = Number(env(name).KAFKA_DEFAULT_REPLICATION_FACTOR);
      expect(replication).toBe(brokers.length);
      expect(Number(env(name).KAFKA_MIN_INSYNC_REPLICAS)).toBe(replication - 1); // one broker may be lost
    }
    // Node 1 is compose.yaml's kafka: nothing of its single-node settings survives the merge.
    const common = (name: string) => {
      const { KAFKA_NODE_ID, KAFKA_ADVERTISED_LISTENERS, ...rest } = env(name);
      return rest;
    };
    expect(common("kafka")).toEqual(common("kafka-2"));
    expect(common("kafka-3")).toEqual(common("kafka-2"));
  });

  test("brokers listen and advertise on the compose network only, each under its service name, with data in its own volume", () => {
    const sources = new Set<string>();
    for (const name of brokers) {
      const e = env(name);
      const names = (list: string) =>
        list
          .split(",")
          .map((l) => l.split("://")[0])
          .sort();
      expect(names(String(e.KAFKA_LISTENERS))).toEqual(["CONTROLLER", "INTERNAL"]);
      expect(names(String(e.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).replaceAll(":PLAINTEXT", "://"))).toEqual(["CONTROLLER", "INTERNAL"]);
      expect({ name, advertised: e.KAFKA_ADVERTISED_LISTENERS }).toEqual({ name, advertised: `INTERNAL://${name}:19092` });
      expect(ms[name]?.ports).toBeUndefined();
      const volumes = mounts(ms[name]);
      expect({ name, volumes: volumes.length }).toEqual({ name, volumes: 1 });
      const [source, target] = volumes[0] as [string, string];
      expect(target).toBe(String(e.KAFKA_LOG_DIRS)); // the data goes where the volume is
      expect(Object.keys(merged.volumes)).toContain(source);
      sources.add(source);
    }
    expect(sources.size).toBe(brokers.length);
    expect(sources.has("kafka-data")).toBe(false); // not the single node's data, formatted for another quorum
    expect(clusterText).not.toContain("EXTERNAL");
    expect(clusterText).not.toMatch(/localhost:9092/);
  });

  test("runs six Redis nodes in cluster mode, persistent, behind the password that has no default, with health checks", () => {
    expect(redisNodes.sort()).toEqual(["redis-1", "redis-2", "redis-3", "redis-4", "redis-5", "redis-6"]);
    const sources = new Set<string>();
    for (const name of redisNodes) {
      const node = ms[name] as Service;
      const command = node.command ?? [];
      expect({ name, image: node.image }).toEqual({ name, image: services.redis?.image });
      expect(flag(command, "--appendonly")).toBe("yes");
      // Clients and replicas authenticate with the password; MOVED and CLUSTER SLOTS name the node's service.
      expect({ name, requirepass: flag(command, "--requirepass"), masterauth: flag(command, "--masterauth") }).toEqual({
        name,
        requirepass: REDIS_PASSWORD,
        masterauth: REDIS_PASSWORD,
      });
      expect(flag(command, "--cluster-announce-hostname")).toBe(name);
      expect(flag(command, "--cluster-preferred-endpoint-type")).toBe("hostname");
      expect(command).not.toContain("--protected-mode");
      expect(node.environment?.REDISCLI_AUTH).toBe(REDIS_PASSWORD);
      expect(node.healthcheck?.test).toEqual(["CMD-SHELL", "redis-cli ping | grep -qx PONG"]);
      expect(node.ports).toBeUndefined();
      const volumes = mounts(node);
      expect(volumes.map(([, target]) => target)).toEqual(["/data"]); // the append-only file and nodes.conf
      const source = volumes[0]?.[0] as string;
      expect(Object.keys(merged.volumes)).toContain(source);
      sources.add(source);
    }
    expect(sources.size).toBe(6);
    // Every use of the password is the required form, with no default, as in compose.yaml.
    const uses = clusterText.match(/\$\{REDIS_PASSWORD[^}]*\}/g) ?? [];
    expect(uses.length).toBeGreaterThanOrEqual(redisNodes.length * 3); // --requirepass, --masterauth and a seed per node
    for (const use of uses) expect(use).toBe(REDIS_PASSWORD);
  });

  test("leaves compose nothing to substitute but REDIS_PASSWORD: the init script's shell variables are written $$", () => {
    const strings: string[] = [];
    const walk = (value: unknown): void => {
      if (typeof value === "string") strings.push(value);
      else if (Array.isArray(value)) value.forEach(walk);
      else if (isMap(value)) Object.values(value).forEach(walk);
    };
    walk(clusterOverride);
    const stray = strings.map((s) => s.replaceAll("$$", "").replaceAll(REDIS_PASSWORD, "")).filter((s) => s.includes("$"));
    expect(stray).toEqual([]);
    expect(initScript).toContain("$$");
  });

  test("redis-cluster-init creates 3 masters with a replica each once all six nodes answer, and only on first start", () => {
    expect(init.image).toBe(services.redis?.image as string);
    expect(init.restart).toBe("no"); // one-shot: the roles wait for it to complete
    expect(init.depends_on).toEqual(Object.fromEntries(redisNodes.map((name) => [name, { condition: "service_healthy" }])));
    expect(init.environment?.REDISCLI_AUTH).toBe(REDIS_PASSWORD); // redis-cli --cluster authenticates with it
    expect(init.command?.slice(0, 2)).toEqual(["sh", "-ec"]);
    expect(init.ports).toBeUndefined();
    // The script's node list is the cluster's nodes.
    expect(/^nodes="([^"]*)"$/m.exec(initScript)?.[1]?.split(" ")).toEqual(redisNodes);
    const create = /^\s*redis-cli --cluster create .*$/m.exec(initScript)?.[0] ?? "";
    expect(create).toContain("--cluster-yes");
    const replicas = Number(/--cluster-replicas (\d+)/.exec(create)?.[1]);
    expect(replicas).toBe(1);
    expect(redisNodes.length / (replicas + 1)).toBe(3); // masters: the nodes that are not replicas
    // Idempotent: it creates only when no node knows another yet; otherwise it introduces them again.
    const guard = initScript.indexOf("cluster_known_nodes:1");
    expect(guard).toBeGreaterThan(-1);
    expect(guard).toBeLessThan(initScript.indexOf("redis-cli --cluster create"));
    expect(initScript).toMatch(/cluster meet/);
    // Done only when every node says the cluster is ok, knows all six and sees every slot served.
    for (const want of ["cluster_state:ok", "cluster_known_nodes:6", "cluster_slots_ok:16384"]) expect(initScript).toContain(want);
    expect(initScript).toMatch(/exit 1/);
  });

  test("points every role at the three brokers and the cluster's six seeds, password included, with topics replicated 3 times", () => {
    const known = Object.keys(EnvSchema.properties);
    const advertised = brokers.map((name) => String(env(name).KAFKA_ADVERTISED_LISTENERS).replace("INTERNAL://", "")).sort();
    expect(clusterRoles.map(([name]) => name).sort()).toEqual(roles.map(([name]) => name).sort());
    for (const [name, service] of clusterRoles) {
      const e = service.environment ?? {};
      for (const variable of Object.keys(e)) expect(known).toContain(variable);
      expect({ name, brokers: String(e.KAFKA_BROKERS).split(",").sort() }).toEqual({ name, brokers: advertised });
      const seeds = redisSeeds(String(e.REDIS_URL));
      expect({ name, seeds }).toEqual({ name, seeds: redisNodes.map((node) => `redis://:${REDIS_PASSWORD}@${node}:6379`) });
      // Once compose substitutes a (hex) password, the configuration takes it: six seeds (a cluster), each with the password.
      const config = loadConfig({
        KAFKA_BROKERS: String(e.KAFKA_BROKERS),
        REDIS_URL: String(e.REDIS_URL).replaceAll(REDIS_PASSWORD, "0f1e2d3c"),
        TOPIC_REPLICATION: String(e.TOPIC_REPLICATION),
      });
      const parsed = redisSeeds(config.REDIS_URL).map((seed) => new URL(seed));
      expect(parsed.map((u) => u.hostname)).toEqual(redisNodes);
      for (const u of parsed) expect(u.password).toBe("0f1e2d3c");
      expect(config.TOPIC_REPLICATION).toBe(Number(env("kafka").KAFKA_DEFAULT_REPLICATION_FACTOR));
      expect(String(e.REDIS_URL)).not.toMatch(/@redis:/); // never the single Redis
    }
  });

  test("starts the roles after the brokers are healthy and the cluster is formed; the single Redis does not start", () => {
    const after = {
      kafka: { condition: "service_healthy" },
      "kafka-2": { condition: "service_healthy" },
      "kafka-3": { condition: "service_healthy" },
      "redis-cluster-init": { condition: "service_completed_successfully" },
    };
    for (const [name, service] of clusterRoles) {
      if (name === "sim")
        expect(service.depends_on).toEqual({}); // the simulator needs neither
      else expect({ name, depends_on: service.depends_on }).toEqual({ name, depends_on: after });
    }
    // compose.yaml's redis: under a profile nothing enables, and nothing depends on it (compose would
    // refuse a started service that depends on a disabled one).
    const own = ms.redis?.profiles ?? [];
    expect(own.length).toBeGreaterThan(0);
    const others = new Set(Object.entries(ms).flatMap(([name, s]) => (name === "redis" ? [] : (s.profiles ?? []))));
    for (const profile of own) expect({ profile, sharedWith: others.has(profile) }).toEqual({ profile, sharedWith: false }); // `--profile offline` leaves it off
    for (const [name, service] of Object.entries(ms)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        expect({ name, dependency, defined: dependency in ms }).toEqual({ name, dependency, defined: true });
        expect({ name, dependency, profiles: ms[dependency]?.profiles }).toEqual({ name, dependency, profiles: undefined });
      }
    }
  });

  test("runs plaintext: node 1 drops compose.yaml's start script and secrets, every role its TLS, SASL and Redis-user settings", () => {
    const kafka = ms.kafka as Service;
    expect({ command: kafka.command, secrets: kafka.secrets }).toEqual({ command: undefined, secrets: undefined });
    expect(kafka.environment?.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toBe("INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT");
    for (const [name] of clusterRoles) {
      const config = loadConfig(
        Object.fromEntries(
          Object.entries(env(name)).map(([k, v]) => [
            k,
            String(v)
              .replaceAll(REDIS_PASSWORD, "0f1e2d3c")
              .replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1"),
          ]),
        ),
      );
      expect({ name, tls: config.KAFKA_TLS, sasl: config.KAFKA_SASL_MECHANISM, user: config.REDIS_USERNAME, ca: config.REDIS_CA_FILE }).toEqual({
        name,
        tls: "false",
        sasl: "",
        user: "",
        ca: "",
      });
    }
  });

  test("publishes only the API's port", () => {
    for (const [name, service] of Object.entries(ms)) {
      expect(service.network_mode).toBeUndefined();
      if (name !== "api") expect({ name, ports: service.ports }).toEqual({ name, ports: undefined });
    }
    expect(ms.api?.ports).toEqual(["3000:3000"]);
  });
});
