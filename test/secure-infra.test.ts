/**
 * `bun run infra --secure` (tools/infra/main.ts): starts the secure stack in BTC_SECURE_DIR on the
 * ports of KAFKA_BROKERS and REDIS_URL, prints the variables every role takes and each role's
 * own Redis user, and those printed lines are enough to run a role (rebuild, as its user). Started
 * again on the same folder, the same passwords still log in (the SCRAM users live in the broker's
 * metadata); SIGTERM stops it with exit code 0.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../tools/infra/process.ts";

setDefaultTimeout(180_000);

const ROOT = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "btc-secure-infra-"));
const ports = { KAFKA_BROKERS: `localhost:${freePort()}`, REDIS_URL: `rediss://127.0.0.1:${freePort()}` };
const running: Subprocess[] = [];

afterAll(() => {
  for (const p of running) if (p.exitCode === null) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `infra --secure`; resolves with what it printed once it says it is ready. */
async function infra(): Promise<{ proc: Subprocess<"ignore", "pipe", "pipe">; lines: string[] }> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "tools", "infra", "main.ts"), "--secure"], {
    cwd: ROOT,
    env: { ...process.env, ...ports, BTC_SECURE_DIR: dir, REDIS_CA_FILE: "", REDIS_USERNAME: "" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  running.push(proc);
  const lines: string[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of proc.stdout) {
    lines.push(...decoder.decode(chunk).split("\n").filter(Boolean));
    if (lines.some((l) => l.startsWith("infra: ready"))) break;
  }
  return { proc, lines };
}

/** Runs rebuild with the printed variables and its own printed user; its exit code and output. */
async function rebuildWith(lines: string[]): Promise<{ code: number; output: string }> {
  const env = Object.fromEntries(lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const own = lines.find((l) => l.startsWith("#   rebuild: "))?.slice("#   rebuild: ".length) ?? "";
  for (const pair of own.split(" ")) env[pair.slice(0, pair.indexOf("="))] = pair.slice(pair.indexOf("=") + 1);
  const proc = Bun.spawn([process.execPath, join(ROOT, "src", "roles", "rebuild.ts")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${out}${err}` };
}

test("infra --secure prints the variables; a role runs with them as its own user; again on the same folder; SIGTERM stops it", async () => {
  const first = await infra();
  const names = first.lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.slice(0, l.indexOf("=")));
  expect(names).toEqual([
    "KAFKA_BROKERS",
    "KAFKA_TLS",
    "KAFKA_CA_FILE",
    "KAFKA_CERT_FILE",
    "KAFKA_KEY_FILE",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD_FILE",
    "REDIS_URL",
    "REDIS_CA_FILE",
  ]);
  expect(first.lines).toContain(`KAFKA_BROKERS=${ports.KAFKA_BROKERS}`);
  expect(first.lines).toContain(`REDIS_URL=${ports.REDIS_URL}`);
  // Every file it names is in the folder, and no password is printed.
  const secrets = readdirSync(join(dir, "secrets"))
    .filter((f) => f.endsWith(".password"))
    .map((f) => readFileSync(join(dir, "secrets", f), "utf8").trim());
  expect(secrets.length).toBeGreaterThan(3);
  for (const s of secrets) expect(first.lines.join("\n").includes(s)).toBe(false);

  const run = await rebuildWith(first.lines);
  expect({ code: run.code, output: run.output }).toEqual({ code: 0, output: expect.stringMatching(/projection dropped/) });

  first.proc.kill("SIGTERM");
  expect(await first.proc.exited).toBe(0);

  const second = await infra();
  expect((await rebuildWith(second.lines)).code).toBe(0);
  second.proc.kill("SIGTERM");
  expect(await second.proc.exited).toBe(0);
});
