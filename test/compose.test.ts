/**
 * compose.yaml cannot run here (no Docker engine); this checks what it promises: the same Kafka
 * version as the local stack, Redis, one service per role with the environment the roles read,
 * health checks, start-up order, and that it opens no door but the API's port (Kafka on the
 * compose network only, Redis behind a password that has no default).
 */
import { describe, expect, test } from "bun:test";
import pkg from "../package.json";
import { EnvSchema, loadConfig } from "../src/domain/config.ts";
import { GROUP_REGISTRY, ROLES } from "../src/domain/groups.ts";
import { KAFKA_VERSION } from "../tools/infra/kafka.ts";

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
}
const composeText = await Bun.file(`${import.meta.dir}/../compose.yaml`).text();
const compose = Bun.YAML.parse(composeText) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = await Bun.file(`${import.meta.dir}/../Dockerfile`).text();

/** How compose.yaml writes the Redis password: required, no default. */
const REDIS_PASSWORD = "${REDIS_PASSWORD:?set REDIS_PASSWORD (e.g. in .env)}";

/** Role services: those that run `bun run <script>`. */
const roles = Object.entries(services).filter(([, s]) => s.command?.[0] === "bun" && s.command[1] === "run");

describe("compose.yaml", () => {
  test("runs the local stack's Apache Kafka version, in KRaft mode, with a health check", () => {
    const kafka = services.kafka;
    expect(kafka?.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
    expect(kafka?.environment?.KAFKA_PROCESS_ROLES).toBe("broker,controller");
    expect(kafka?.healthcheck?.test.join(" ")).toContain("kafka-broker-api-versions");
  });

  test("runs Redis with persistence and a health check", () => {
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(services.redis?.command?.join(" ")).toContain("--appendonly yes");
    expect(services.redis?.healthcheck?.test.join(" ")).toContain("redis-cli ping");
  });

  test("has one service per role script of package.json", () => {
    const scripts = roles.map(([, s]) => s.command?.[2]).sort();
    expect(scripts).toEqual(["api", ...ROLES.map((role) => `consumer:${role}`), "producer", "sim"].sort());
    for (const script of scripts) expect(Object.keys(pkg.scripts)).toContain(script as string);
  });

  test("runs the counts consumer as three replicas", () => {
    expect(services["consumer-counts"]?.deploy?.replicas).toBe(3);
  });

  test("runs every consumer group of the registry as a service, as many replicas as the registry says", () => {
    for (const role of ROLES) {
      const service = services[`consumer-${role}`];
      expect({ role, command: service?.command }).toEqual({ role, command: ["bun", "run", `consumer:${role}`] });
      expect({ role, replicas: service?.deploy?.replicas ?? 1 }).toEqual({ role, replicas: GROUP_REGISTRY[role].processes });
    }
  });

  test("gives every role only variables the configuration knows, pointing at the compose services", () => {
    const known = Object.keys(EnvSchema.properties);
    for (const [, service] of roles) {
      const env = service.environment ?? {};
      for (const variable of Object.keys(env)) expect(known).toContain(variable);
      expect(env.KAFKA_BROKERS).toBe("kafka:19092");
      expect(env.REDIS_URL).toBe(`redis://:${REDIS_PASSWORD}@redis:6379`);
      // Once compose substitutes a (hex) password, the configuration takes it and the URL carries it.
      const url = loadConfig({ REDIS_URL: String(env.REDIS_URL).replace(REDIS_PASSWORD, "0f1e2d3c") }).REDIS_URL;
      expect(new URL(url).password).toBe("0f1e2d3c");
    }
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

  test("Kafka listens and advertises on the compose network only", () => {
    const env = services.kafka?.environment ?? {};
    const listeners = String(env.KAFKA_LISTENERS).split(",");
    const advertised = String(env.KAFKA_ADVERTISED_LISTENERS).split(",");
    const names = (list: string[]) => list.map((l) => l.split("://")[0]).sort();
    expect(names(listeners)).toEqual(["CONTROLLER", "INTERNAL"]);
    // Every advertised address is the service's name on the compose network, never the host.
    expect(advertised).toEqual(["INTERNAL://kafka:19092"]);
    expect(
      String(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP)
        .split(",")
        .map((m) => m.split(":")[0])
        .sort(),
    ).toEqual(["CONTROLLER", "INTERNAL"]);
    expect(composeText).not.toContain("EXTERNAL");
    expect(composeText).not.toMatch(/localhost:9092/);
  });

  test("Redis requires a password that has no default, and its health check authenticates", () => {
    // Every use of REDIS_PASSWORD is a required-variable interpolation: compose refuses to start
    // without it, rather than substituting "" (which would start Redis with no password).
    const uses = composeText.match(/\$\{REDIS_PASSWORD[^}]*\}/g) ?? [];
    expect(uses.length).toBeGreaterThanOrEqual(3);
    for (const use of uses) expect(use).toBe(REDIS_PASSWORD);
    const redis = services.redis as Service;
    const command = redis.command ?? [];
    expect(command[0]).toBe("redis-server"); // the image's entrypoint then drops root for the redis user
    expect(command[command.indexOf("--requirepass") + 1]).toBe(REDIS_PASSWORD);
    expect(command).not.toContain("--protected-mode");
    // redis-cli authenticates with REDISCLI_AUTH; it exits 0 on NOAUTH, so the check greps the answer.
    expect(redis.environment?.REDISCLI_AUTH).toBe(REDIS_PASSWORD);
    expect(redis.healthcheck?.test[0]).toBe("CMD-SHELL");
    expect(redis.healthcheck?.test[1]).toMatch(/redis-cli ping \| grep -qx PONG/);
  });

  test("keeps .env (the password) out of the image's build context", async () => {
    const ignored = (await Bun.file(`${import.meta.dir}/../.dockerignore`).text()).split("\n").map((l) => l.trim());
    expect(ignored).toContain(".env");
  });
});
