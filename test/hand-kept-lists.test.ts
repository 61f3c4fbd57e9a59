/**
 * Nothing per projection is kept by hand (issue 18): outside each projection's own folder
 * (src/projections/<role>/) and the registry (src/projections/registry.ts), no file of src/,
 * test/, bench/ or tools/ compares a role with a literal, lists two or more roles in one array,
 * or counts the roles with a literal. Shared service code (src/ outside those folders) names no
 * projection at all. The roles, their folders and the registry's path come from the registry
 * itself, so this test names none.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { PROJECTIONS } from "../src/projections/registry.ts";

const ROOT = join(import.meta.dir, "..");
const ROLES = PROJECTIONS.map((p) => p.role);
const REGISTRY = "src/projections/registry.ts";
/** Folders that belong to one projection: where its name may appear as it likes. */
const OWN = ROLES.map((role) => `src/projections/${role}/`);
const THIS_FILE = relative(ROOT, import.meta.path);

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const NAME = `(?:${ROLES.map(literal).join("|")})`;
const QUOTED = `["'\`]${NAME}["'\`]`;

/** What counts as a hand-kept list, each with a name for the failure message. */
export const RULES: { name: string; pattern: RegExp; where: (file: string) => boolean }[] = [
  { name: "a role compared with a literal", pattern: new RegExp(`(?:[!=]==?\\s*${QUOTED})|(?:${QUOTED}\\s*[!=]==?)|(?:case\\s+${QUOTED}\\s*:)`), where: () => true },
  { name: "a literal list of two or more roles", pattern: new RegExp(`\\[[^\\[\\]]*${QUOTED}[^\\[\\]]*${QUOTED}[^\\[\\]]*\\]`), where: () => true },
  {
    name: "a literal count of the roles",
    pattern: new RegExp(
      `(?:(?:ROLES|PROJECTIONS|roles|projections|groups)\\)?\\.length\\s*(?:[!=]==?|[<>]=?)\\s*${PROJECTIONS.length}\\b)|(?:expect\\((?:ROLES|PROJECTIONS|roles|projections|groups)[^)]*\\)\\.toHaveLength\\(${PROJECTIONS.length}\\))`,
    ),
    where: () => true,
  },
  { name: "a projection named in shared service code", pattern: new RegExp(QUOTED), where: (file) => file.startsWith("src/") },
];

/** The TypeScript files of src/, test/, bench/ and tools/ outside the projections' folders and the registry. */
function files(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== "node_modules" && e.name !== "fixtures") walk(path);
      } else if (/\.tsx?$/.test(e.name) && path !== REGISTRY && path !== THIS_FILE && !OWN.some((own) => path.startsWith(own))) out.push(path);
    }
  };
  for (const dir of ["src", "test", "bench", "tools"]) walk(dir);
  return out;
}

/** Every line of `text` that breaks a rule, as "rule: line". */
export function handKept(file: string, text: string): string[] {
  const found: string[] = [];
  text.split("\n").forEach((line, i) => {
    for (const rule of RULES) if (rule.where(file) && rule.pattern.test(line)) found.push(`${file}:${i + 1}: ${rule.name}: ${line.trim()}`);
  });
  return found;
}

describe("nothing per projection is kept by hand", () => {
  test("the registry has projections, each with a folder of its own", () => {
    expect(ROLES.length).toBeGreaterThan(0);
    for (const own of OWN) expect(readdirSync(join(ROOT, own)).length).toBeGreaterThan(0);
  });

  test("no file outside the projections' folders and the registry compares, lists or counts roles by hand", () => {
    const found = files().flatMap((file) => handKept(file, readFileSync(join(ROOT, file), "utf8")));
    expect(found).toEqual([]);
  });

  test("each rule catches what it is for (a role planted in src/api/app.ts, and the other shapes in a test)", () => {
    const [first, second] = ROLES as [string, string | undefined];
    const app = readFileSync(join(ROOT, "src/api/app.ts"), "utf8");
    // Planting a role's name in the app makes the check fail.
    expect(handKept("src/api/app.ts", `${app}\nconst role = "${first}";`)).toHaveLength(1);
    expect(handKept("src/api/app.ts", app)).toEqual([]);
    expect(handKept("test/x.test.ts", `if (role === "${first}") go();`)).toHaveLength(1);
    expect(handKept("test/x.test.ts", `const stale = "${first}" !== role ? 0 : 20;`)).toHaveLength(1);
    expect(handKept("test/x.test.ts", `switch (role) { case "${first}": break; }`)).toHaveLength(1);
    expect(handKept("test/x.test.ts", `expect(ROLES.length === ${PROJECTIONS.length}).toBe(true);`)).toHaveLength(1);
    expect(handKept("test/x.test.ts", `expect(PROJECTIONS).toHaveLength(${PROJECTIONS.length});`)).toHaveLength(1);
    if (second) expect(handKept("test/x.test.ts", `const roles = ["${first}", "${second}"];`)).toHaveLength(1);
    // One role named once, in a test, is a test about that projection: allowed.
    expect(handKept("test/x.test.ts", `const p = projectionOf("${first}");`)).toEqual([]);
    expect(handKept("test/x.test.ts", `await fill(redis, config, txs, { roles: ["${first}"] });`)).toEqual([]);
  });
});
