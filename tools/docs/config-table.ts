/**
 * The README's configuration table, generated from the config schema (src/domain/config.ts), so
 * the two cannot disagree: `bun run docs:config` writes it between the README's
 * `<!-- config:start -->` and `<!-- config:end -->` markers, and test/config.test.ts fails when
 * the README holds anything else there.
 */
import type { TSchema } from "@sinclair/typebox";
import { EnvSchema } from "../../src/domain/config.ts";

export const README = new URL("../../README.md", import.meta.url).pathname;
const START = "<!-- config:start -->";
const END = "<!-- config:end -->";

/** One row per variable: name, default, what is allowed (the schema's description). */
export function configTable(): string {
  const rows = (Object.entries(EnvSchema.properties) as [string, TSchema][]).map(([name, schema]) => {
    const def = schema.default === "" ? "*(empty)*" : `\`${schema.default}\``;
    return `| \`${name}\` | ${def} | ${String(schema.description ?? "").replaceAll("|", "\\|")} |`;
  });
  return ["| variable | default | allowed |", "|---|---|---|", ...rows].join("\n");
}

/** The table as the README holds it now (between the markers), or undefined without markers. */
export function readmeTable(readme: string): string | undefined {
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  return from < 0 || to < from ? undefined : readme.slice(from + START.length, to).trim();
}

if (import.meta.main) {
  const readme = await Bun.file(README).text();
  if (readmeTable(readme) === undefined) throw new Error(`README.md has no ${START} ... ${END} block`);
  const from = readme.indexOf(START) + START.length;
  await Bun.write(README, `${readme.slice(0, from)}\n${configTable()}\n${readme.slice(readme.indexOf(END))}`);
  console.log("README.md: configuration table written from src/domain/config.ts");
}
