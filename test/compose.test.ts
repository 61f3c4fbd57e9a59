/**
 * compose.yaml cannot run here (no Docker engine); this checks what it promises: the same Kafka
 * version as the local stack, Redis, one service per role with the environment the roles read,
 * health checks, and start-up order.
 */
import { describe, expect, test } from "bun:test";
import { EnvSchema } from "../src/config.ts";
import { KAFKA_VERSION } from "../src/infra/kafka.ts";
import pkg from "../package.json";

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  profiles?: string[];
}
const compose = Bun.YAML.parse(await Bun.file(`${import.meta.dir}/../compose.yaml`).text()) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = await Bun.file(`${import.meta.dir}/../Dockerfile`).text();

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
    expect(services.redis?.healthcheck?.test).toContain("ping");
  });

  test("has one service per role script of package.json", () => {
    const scripts = roles.map(([, s]) => s.command?.[2]).sort();
    expect(scripts).toEqual(["api", "consumer:addresses", "consumer:counts", "consumer:transactions", "producer", "sim"]);
    for (const script of scripts) expect(Object.keys(pkg.scripts)).toContain(script as string);
  });

  test("runs the counts consumer as three replicas", () => {
    expect(services["consumer-counts"]?.deploy?.replicas).toBe(3);
  });

  test("gives every role only variables the configuration knows, pointing at the compose services", () => {
    const known = Object.keys(EnvSchema.properties);
    for (const [, service] of roles) {
      const env = service.environment ?? {};
      for (const variable of Object.keys(env)) expect(known).toContain(variable);
      expect(env.KAFKA_BROKERS).toBe("kafka:19092");
      expect(env.REDIS_URL).toBe("redis://redis:6379");
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
});
