/**
 * The consumer services of compose.yaml and compose.cluster.yaml, generated from the registry of
 * projections (src/projections/registry.ts), so that a new projection needs no hand edit there:
 * `bun run docs:compose` writes them between each file's `# consumers:start` and
 * `# consumers:end` markers, and test/compose.test.ts fails when a file holds anything else there.
 */
import { PROJECTIONS } from "../../src/projections/registry.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const COMPOSE_FILES = { base: `${ROOT}compose.yaml`, cluster: `${ROOT}compose.cluster.yaml` } as const;
const START = "# consumers:start";
const END = "# consumers:end";

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
    const lines = [
      `  ${name}:`,
      "    <<: *app",
      `    command: ["bun", "run", "consumer", "${role}"]`,
      "    healthcheck:",
      "      <<: *alive",
      `      test: ["CMD", "bun", "src/roles/alive.ts", "${name}"]`,
    ];
    if (processes > 1) lines.push("    deploy:", `      replicas: ${processes}`);
    return `${lines.join("\n")}\n`;
  });
  return `${START} (generated from src/projections/registry.ts by \`bun run docs:compose\`; do not edit by hand)\n${services.join("\n")}  ${END}`;
}

/** The block a compose file holds now (from its start marker to its end marker), or undefined without markers. */
export function composeBlock(text: string): string | undefined {
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  return from < 0 || to < from ? undefined : text.slice(from, to + END.length);
}

if (import.meta.main) {
  for (const [kind, path] of Object.entries(COMPOSE_FILES) as [keyof typeof COMPOSE_FILES, string][]) {
    const text = await Bun.file(path).text();
    const block = composeBlock(text);
    if (block === undefined) throw new Error(`${path} has no ${START} ... ${END} block`);
    await Bun.write(path, text.replace(block, consumerServices(kind)));
    console.log(`${path}: consumer services written from the registry`);
  }
}
