/**
 * `bun run demo --secure`: the real demo (tools/demo/main.ts) starts the secure stack itself
 * (a SASL_SSL broker, a TLS Redis with a user per role; its certificates, passwords and data in a
 * temporary BTC_SECURE_DIR, on free ports named by KAFKA_BROKERS and REDIS_URL) and runs every
 * role on it. Every transaction the simulator sends reaches the API, /health is ok, the output
 * names no password, and SIGTERM stops everything with exit code 0.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../tools/infra/process.ts";
import { alive, descendants, startDemo } from "./helpers/demo.ts";
import { waitFor } from "./helpers/env.ts";

setDefaultTimeout(240_000);

const TRANSACTIONS = 300;
const dir = mkdtempSync(join(tmpdir(), "btc-secure-demo-"));
let demo: ReturnType<typeof startDemo> | undefined;

afterAll(() => {
  if (demo && demo.proc.exitCode === null) demo.proc.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("bun run demo --secure: the whole pipeline on SASL_SSL Kafka and TLS Redis, every transaction served; SIGTERM leaves nothing", async () => {
  const port = freePort();
  const api = `http://localhost:${port}`;
  demo = startDemo(
    {
      BTC_SECURE_DIR: dir,
      KAFKA_BROKERS: `localhost:${freePort()}`,
      REDIS_URL: `rediss://127.0.0.1:${freePort()}`,
      PORT: String(port),
      TOPIC: "secure-demo",
      REDIS_PREFIX: "secdemo",
      GROUP_PREFIX: "secdemo-",
    },
    "secure-demo",
    ["--secure", "--rate", "50", "--count", String(TRANSACTIONS)],
  );
  const d = demo;
  await waitFor("the demo's API", async () => (await fetch(`${api}/health`).catch(() => undefined))?.status !== undefined, 120_000);
  const served = await waitFor(
    `all ${TRANSACTIONS} transactions served`,
    async () => {
      const res = await fetch(`${api}/show_transactions/?limit=1000`).catch(() => undefined);
      const body = res?.ok ? ((await res.json()) as { transactions: { hash: string }[] }) : undefined;
      return body && body.transactions.length >= TRANSACTIONS ? body.transactions : undefined;
    },
    120_000,
  );
  expect(new Set(served.map((t) => t.hash)).size).toBe(TRANSACTIONS);
  const health = await waitFor("/health ok", async () => {
    const res = await fetch(`${api}/health`);
    return res.status === 200 ? ((await res.json()) as { redis: { ok: boolean }; kafka: { ok: boolean } }) : undefined;
  });
  expect({ redis: health.redis.ok, kafka: health.kafka.ok }).toEqual({ redis: true, kafka: true });
  expect(d.lines.join("\n")).toMatch(/demo: Kafka localhost:\d+ \(SASL_SSL, SCRAM-SHA-512, mutual TLS\)/);

  const below = descendants(d.proc.pid);
  expect(below.length).toBeGreaterThan(5);
  d.proc.kill("SIGTERM");
  expect(await d.proc.exited).toBe(0);
  await d.done;
  await waitFor("every process the demo started to be gone", () => below.every((p) => !alive(p)), 30_000);

  // No password of the stack in anything the demo or its roles printed.
  const secrets = readdirSync(join(dir, "secrets"))
    .filter((f) => f.endsWith(".password"))
    .map((f) => readFileSync(join(dir, "secrets", f), "utf8").trim());
  expect(secrets.length).toBeGreaterThan(3);
  const output = d.lines.join("\n");
  for (const s of secrets) expect(output.includes(s)).toBe(false);
});
