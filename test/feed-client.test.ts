/**
 * The feed connection (src/feed/client.ts): subscribes, keeps alive with pings, gives up on a
 * silent connection, reconnects with backoff and says how long the gap was.
 */
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { backoff } from "../src/domain/backoff.ts";
import type { Level, Logger } from "../src/domain/log.ts";
import { connectFeed, type FeedTiming } from "../src/feed/client.ts";
import { frameBytes, MAX_FRAME_BYTES, readFeedMessage } from "../src/feed/utx.ts";
import { startSimulator } from "../tools/sim/server.ts";
import { waitFor } from "./helpers/env.ts";

// test/setup.ts sets 60 s, but in Bun 1.3.14 a preload's default reaches only the first file of a
// run (https://github.com/oven-sh/bun/issues/43787); per file it holds.
setDefaultTimeout(60_000);

const FAST: FeedTiming = { pingEveryMs: 50, deadAfterMs: 150, backoffMinMs: 10, backoffMaxMs: 100 };
/** Pings that never make a busy connection look dead. */
const FAST_LONG: FeedTiming = { pingEveryMs: 1_000, deadAfterMs: 60_000, backoffMinMs: 10, backoffMaxMs: 100 };

/** A logger that keeps what it is told, to check what an operator would read. */
function recordingLogger(): Logger & { lines: { level: Level; message: string }[] } {
  const lines: { level: Level; message: string }[] = [];
  const add = (level: Level) => (message: string) => void lines.push({ level, message });
  return { lines, debug: add("debug"), info: add("info"), warn: add("warn"), error: add("error"), limited: (_key, level, message) => add(level)(message) };
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await stop();
});

test("backoff doubles from the minimum up to the maximum, with jitter in the upper half", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const step = Math.min(1_000, 10 * 2 ** attempt);
    for (let i = 0; i < 50; i++) {
      const delay = backoff(attempt, 10, 1_000);
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThanOrEqual(step);
    }
  }
});

test("a connection that stays silent (no pong, no message) is given up and replaced, subscribing again", async () => {
  const received: string[] = [];
  let connections = 0;
  const silent = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 426 })),
    websocket: {
      open: () => void connections++,
      message: (_ws, message) => void received.push(String(message)), // never answers
    },
  });
  cleanup.push(() => void silent.stop(true));
  const log = recordingLogger();
  const feed = connectFeed(`ws://127.0.0.1:${silent.port}/inv`, log, { frame: () => {}, reconnected: () => {} }, FAST);
  cleanup.push(() => feed.close());

  await waitFor("a third connection", () => connections >= 3);
  expect(received.filter((m) => m === '{"op":"unconfirmed_sub"}').length).toBeGreaterThanOrEqual(2);
  expect(received).toContain('{"op":"ping"}');
  expect(log.lines.some((l) => l.level === "warn" && /feed silent for \d+ ms; no frame received yet; reconnecting in \d+ ms/.test(l.message))).toBe(true);
});

test("pongs keep a quiet connection alive: no reconnect while the feed answers pings", async () => {
  const sim = await startSimulator({ port: 0, rate: 0.001, seed: 1 }); // one transaction, then quiet
  cleanup.push(() => sim.stop());
  const frames: string[] = [];
  let reconnects = 0;
  const feed = connectFeed(sim.url, recordingLogger(), { frame: (f) => void frames.push(String(f)), reconnected: () => void reconnects++ }, FAST);
  cleanup.push(() => feed.close());

  // Ten pongs take about ten ping intervals: several times the 150 ms a silent connection is given.
  await waitFor("ten pongs", () => frames.filter((f) => f === '{"op":"pong"}').length >= 10);
  expect(reconnects).toBe(0);
  expect(frames.filter((f) => f.includes('"op":"utx"')).length).toBe(1);
});

test("after the feed drops the connection it reconnects, subscribes again and logs the gap", async () => {
  const sim = await startSimulator({ port: 0, rate: 0, count: 25, dropEvery: 10, seed: 2, keepSent: "all" });
  cleanup.push(() => sim.stop());
  const log = recordingLogger();
  const frames: string[] = [];
  const gaps: number[] = [];
  const feed = connectFeed(sim.url, log, { frame: (f) => void frames.push(String(f)), reconnected: (gap) => void gaps.push(gap) }, FAST);
  cleanup.push(() => feed.close());

  await sim.finished;
  const hashes = () =>
    frames
      .map((f) => JSON.parse(f))
      .filter((m) => m.op === "utx")
      .map((m) => m.x.hash);
  await waitFor("all 25 transactions", () => hashes().length >= 25);
  expect(hashes()).toEqual(sim.sent());
  expect(gaps.length).toBe(2);
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(0);
  expect(log.lines.filter((l) => l.level === "warn" && /feed closed \(code 1012, simulated drop\); last frame [\d.]+ s ago/.test(l.message)).length).toBe(2);
  expect(log.lines.filter((l) => /feed reconnected after a gap of [\d.]+ s/.test(l.message)).length).toBe(2);
});

test("a frame above MAX_FRAME_BYTES reaches `frame` whole: Bun's client has no receive limit, so the reader is what refuses it", async () => {
  const size = MAX_FRAME_BYTES + 1024;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 426 })),
    websocket: { open: (ws) => void ws.send("x".repeat(size)), message: () => {} },
  });
  cleanup.push(() => void server.stop(true));
  const frames: (string | Buffer)[] = [];
  let reconnects = 0;
  const feed = connectFeed(`ws://127.0.0.1:${server.port}/inv`, recordingLogger(), { frame: (f) => void frames.push(f), reconnected: () => void reconnects++ }, FAST_LONG);
  cleanup.push(() => feed.close());

  await waitFor("the large frame", () => frames.length >= 1);
  expect(frameBytes(frames[0] as string)).toBe(size);
  expect(reconnects).toBe(0);
  const read = readFeedMessage(frames[0] as string, Date.now());
  expect(read).toEqual({ kind: "invalid", reason: `frame of ${size} bytes, above the ${MAX_FRAME_BYTES}-byte limit: not read` });
});
