/**
 * The dependency rules (.dependency-cruiser.cjs, run by `bun run lint`) reject what they promise
 * to: a small tree is planted in a temporary folder with the project's rules, once clean and
 * once with one forbidden import, and dependency-cruiser must pass the first and name the rule
 * and the import in the second.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");

/** Runs the project's rules over a tree of `files` (path → source); returns the exit code and output. */
function cruise(files: Record<string, string>): { code: number; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "layers-"));
  try {
    for (const name of [".dependency-cruiser.cjs", "tsconfig.json"]) copyFileSync(join(ROOT, name), join(dir, name));
    for (const [path, source] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), source);
    }
    // dependency-cruiser refuses Node 20; it runs under Bun, as `bun run lint` runs it.
    const run = Bun.spawnSync([process.execPath, "--bun", DEPCRUISE, "src", "tools", "--config", ".dependency-cruiser.cjs", "--output-type", "err"], { cwd: dir });
    return { code: run.exitCode ?? -1, out: `${run.stdout.toString()}${run.stderr.toString()}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const clean = {
  "src/domain/window.ts": "export const WINDOW_SECONDS = 10_800;\n",
  "src/redis/keys.ts": 'import { WINDOW_SECONDS } from "../domain/window.ts";\nexport const ttl = WINDOW_SECONDS;\n',
  "src/api/app.ts": 'import { ttl } from "../redis/keys.ts";\nexport const app = ttl;\n',
  "tools/sim/random.ts": "export const seed = 1;\n",
};

describe("the dependency rules", () => {
  test("pass a tree whose imports point down", () => {
    const { code, out } = cruise(clean);
    expect(out).toContain("no dependency violations found");
    expect(code).toBe(0);
  });

  test("reject an upward import: the domain importing the API", () => {
    const { code, out } = cruise({ ...clean, "src/domain/planted.ts": 'import { app } from "../api/app.ts";\nexport const x = app;\n' });
    expect(code).not.toBe(0);
    expect(out).toMatch(/domain-is-lowest: .*src\/domain\/planted\.ts.* → .*src\/api\/app\.ts/);
  });

  test("reject service code importing a dev tool", () => {
    const { code, out } = cruise({ ...clean, "src/redis/planted.ts": 'import { seed } from "../../tools/sim/random.ts";\nexport const x = seed;\n' });
    expect(code).not.toBe(0);
    expect(out).toMatch(/service-code-without-dev-tools: .*src\/redis\/planted\.ts.* → .*tools\/sim\/random\.ts/);
  });

  test("reject an import cycle", () => {
    const { code, out } = cruise({
      ...clean,
      "src/redis/a.ts": 'import { b } from "./b.ts";\nexport const a = () => b;\n',
      "src/redis/b.ts": 'import { a } from "./a.ts";\nexport const b = () => a;\n',
    });
    expect(code).not.toBe(0);
    expect(out).toContain("no-circular");
  });
});
