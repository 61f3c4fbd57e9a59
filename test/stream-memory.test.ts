/**
 * /stream has bounded memory (issue 12, item 2): the API runs as its own process (so its RSS is
 * its own), Redis is seeded continuously at 200 transactions a second through the consumers'
 * scripts, one client reads the stream, and 200 clients that never read connect and stay for
 * 30 s. The API's RSS grows by less than 50 MB, every non-reader is refused (the per-address cap)
 * or disconnected (it stayed behind), and the reading client gets every transaction: the ids (the
 * transactions' numbers; minute and health events carry none) consecutive.
 */
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { sendQueues } from "../src/api/stream/sockets.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { freePort, startChild } from "../tools/infra/process.ts";
import { fill } from "../tools/testkit/fill.ts";
import { bounded, roleEnv, testEnv, waitFor } from "./helpers/env.ts";

const { config, env, redis } = testEnv();
const ROOT = join(import.meta.dir, "..");
const ARTIFACTS = join(ROOT, "test", "artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

const NON_READERS = 200;
const HOLD_MS = 30_000;
const port = freePort();
const base = `http://127.0.0.1:${port}`;
const api = startChild("api", [process.execPath, join(ROOT, "src", "roles", "api.ts")], {
  cwd: ROOT,
  logFile: join(ARTIFACTS, "stream-memory-api.log"),
  env: { ...env, ...roleEnv("api"), PORT: String(port), LOG_LEVEL: "warn" },
});
const sockets: Socket[] = [];
let seeding = true;
afterAll(async () => {
  seeding = false;
  for (const s of sockets) s.destroy();
  await bounded("stopping the API", () => api.stop(10_000));
});

const rssMb = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${api.proc.pid}/status`, "utf8"))?.[1]) / 1024;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
}

let serial = 0;
function tx(time: number): Transaction {
  const n = serial++;
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`memory-${n}`).digest("hex"),
    time,
    size: 250,
    weight: 700,
    inputs: [{ address: `in-${n % 50}`, value: 20_000 + n }],
    outputs: [
      { address: `out-${n % 70}`, value: 10_000 + n },
      { address: `change-${n % 30}`, value: 9_000 },
    ],
    value: 19_000 + n,
    fee: 1_000,
    received_at: time * 1000,
  };
}

/** 200 transactions a second, in tenths of a second, stamped now. */
async function seed(): Promise<void> {
  while (seeding) {
    const now = Math.floor(Date.now() / 1000);
    await fill(
      redis,
      config,
      Array.from({ length: 20 }, () => tx(now)),
    );
    await Bun.sleep(100);
  }
}

/** A client that reads every event and records the ids. */
function reader() {
  const ids: number[] = [];
  let hello = false;
  let ended = false;
  const abort = new AbortController();
  (async () => {
    const res = await fetch(`${base}/stream`, { signal: abort.signal });
    const body = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await body.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.includes("event: hello")) hello = true;
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        if (id) ids.push(Number(id));
        end = buffer.indexOf("\n\n");
      }
    }
  })()
    .catch(() => {})
    .finally(() => (ended = true));
  return { ids, ready: () => hello, ended: () => ended, stop: () => abort.abort() };
}

/** A client that sends its request, takes the first bytes, then never reads again. */
const acceptedPorts: number[] = [];
function nonReader(): Promise<string> {
  return new Promise((done) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`GET /stream HTTP/1.1\r\nHost: x\r\n\r\n`));
    sockets.push(socket);
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(chunk.toString("latin1"))?.[1] ?? "?";
      if (status === "200") acceptedPorts.push(socket.localPort as number);
      done(status);
    });
    socket.on("error", () => done("error"));
  });
}

test("200 clients that never read cost the API less than 50 MB; the reading client misses nothing", async () => {
  await waitFor("the API", async () => (await fetch(`${base}/metrics`)).status === 200, 30_000);
  const seeder = seed();
  const normal = reader();
  await waitFor("the reading client's hello", () => normal.ready(), 15_000);
  await waitFor("events flowing", () => normal.ids.length >= 200, 30_000);
  const before = rssMb();

  const statuses = await Promise.all(Array.from({ length: NON_READERS }, nonReader));
  const accepted = statuses.filter((s) => s === "200").length;
  const refused = statuses.filter((s) => s === "429" || s === "503").length;
  expect(accepted + refused).toBe(NON_READERS);
  let peak = rssMb();
  const until = Date.now() + HOLD_MS;
  while (Date.now() < until) {
    await Bun.sleep(500);
    peak = Math.max(peak, rssMb());
  }
  // Every accepted non-reader was disconnected; only the reading client is left.
  await waitFor("the non-readers to be disconnected", async () => (await metric("api_stream_clients")) === 1, 30_000);
  expect(await metric("api_stream_refused_total")).toBe(refused);
  expect(await metric("api_stream_dropped_total")).toBe(accepted);
  // Their connections are closed, not only forgotten (the kernel lists them no more).
  await waitFor(
    "the non-readers' connections to close",
    () => {
      const open = sendQueues(new Set([port]));
      return !open || acceptedPorts.every((p) => !open.has(`${port}|127.0.0.1|${p}`));
    },
    15_000,
  );
  seeding = false;
  await seeder;
  console.log(
    `stream memory: RSS ${before.toFixed(1)} MB before, peak ${peak.toFixed(1)} MB; ${accepted} non-readers accepted and disconnected, ${refused} refused; reader got ${normal.ids.length} events`,
  );
  expect(peak - before).toBeLessThan(50);

  expect(normal.ended()).toBe(false);
  const ids = normal.ids;
  expect(ids.length).toBeGreaterThan(1_000);
  for (let i = 1; i < ids.length; i++) if (ids[i] !== (ids[i - 1] as number) + 1) throw new Error(`gap in the ids: ${ids[i - 1]} → ${ids[i]}`);
  normal.stop();
}, 120_000);
