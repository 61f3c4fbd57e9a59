/**
 * The parts of compose.yaml and compose.cluster.yaml that follow the registry of projections
 * (src/projections/registry.ts), so that a new projection needs no hand edit there:
 * `bun run docs:compose` writes them between markers, and test/compose.test.ts fails when a file
 * holds anything else there:
 *   - `# consumers:start` ... `# consumers:end`: one service per consumer group, in both files; in
 *     compose.yaml each logs in to Redis as its own ACL user (tools/infra/acl.ts) with its password
 *     as a secret file;
 *   - `# redis-secrets:start` ... `# redis-secrets:end` (compose.yaml): those password files.
 */
import { PROJECTIONS } from "../../src/projections/registry.ts";
import { redisRoleUsers } from "../infra/acl.ts";
import { COMPOSE_REDIS_PREFIX } from "../infra/compose-secrets.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const COMPOSE_FILES = { base: `${ROOT}compose.yaml`, cluster: `${ROOT}compose.cluster.yaml` } as const;
const NOTE = "(generated from src/projections/registry.ts by `bun run docs:compose`; do not edit by hand)";

/** The Redis ACL user of a role's service, as compose-secrets.ts makes it; its secret's name. */
export function composeRedisUser(role: string): { name: string; secret: string; file: string } {
  const user = redisRoleUsers({ prefix: COMPOSE_REDIS_PREFIX }).find((u) => u.role === role);
  if (!user) throw new Error(`compose: no Redis user for ${role}`);
  return { name: user.name, secret: `redis_password_${role}`, file: `.cache/compose/redis-${user.name}.password` };
}

/** One service per consumer group: `consumer-<role>`, `bun run consumer <role>`, as many replicas as its spec's processes. */
export function consumerServices(file: keyof typeof COMPOSE_FILES): string {
  const services = PROJECTIONS.map(({ role, processes }) => {
    const name = `consumer-${role}`;
    if (file === "cluster")
      return [
        `  ${name}:`,
        "    environment: *cluster-env",
        "    depends_on: !override",
        "      kafka: { condition: service_healthy }",
        "      kafka-2: { condition: service_healthy }",
        "      kafka-3: { condition: service_healthy }",
        "      redis-cluster-init: { condition: service_completed_successfully }\n",
      ].join("\n");
    const user = composeRedisUser(name);
    const lines = [
      `  ${name}:`,
      "    <<: *app",
      `    command: ["bun", "run", "consumer", "${role}"]`,
      "    environment:",
      "      <<: *app-env",
      `      REDIS_USERNAME: ${user.name}`,
      `      REDIS_PASSWORD_FILE: /run/secrets/${user.secret}`,
      `    secrets: [ca, kafka_password, ${user.secret}]`,
      "    healthcheck:",
      "      <<: *alive",
      `      test: ["CMD", "bun", "src/roles/alive.ts", "${name}"]`,
    ];
    if (processes > 1) lines.push("    deploy:", `      replicas: ${processes}`);
    return `${lines.join("\n")}\n`;
  });
  return `# consumers:start ${NOTE}\n${services.join("\n")}  # consumers:end`;
}

/** The password files of the consumers' Redis users, under compose.yaml's top-level `secrets:`. */
export function redisSecrets(): string {
  const lines = PROJECTIONS.map(({ role }) => {
    const user = composeRedisUser(`consumer-${role}`);
    return `  ${user.secret}: { file: ${user.file} }`;
  });
  return `# redis-secrets:start ${NOTE}\n${lines.join("\n")}\n  # redis-secrets:end`;
}

/** The generated blocks of each file, by marker name. */
export const GENERATED: Record<keyof typeof COMPOSE_FILES, Record<string, () => string>> = {
  base: { consumers: () => consumerServices("base"), "redis-secrets": redisSecrets },
  cluster: { consumers: () => consumerServices("cluster") },
};

/** The block a compose file holds now (from its start marker to its end marker), or undefined without markers. */
export function composeBlock(text: string, name = "consumers"): string | undefined {
  const [start, end] = [`# ${name}:start`, `# ${name}:end`];
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  return from < 0 || to < from ? undefined : text.slice(from, to + end.length);
}

if (import.meta.main) {
  for (const [kind, path] of Object.entries(COMPOSE_FILES) as [keyof typeof COMPOSE_FILES, string][]) {
    let text = await Bun.file(path).text();
    for (const [name, make] of Object.entries(GENERATED[kind])) {
      const block = composeBlock(text, name);
      if (block === undefined) throw new Error(`${path} has no # ${name}:start ... # ${name}:end block`);
      text = text.replace(block, make());
    }
    await Bun.write(path, text);
    console.log(`${path}: the parts that follow the registry written`);
  }
}
