/**
 * The simulator can run for days (issue 19, item 5): what it keeps of the transactions it sent is
 * bounded unless a test asks for all of them, and so is its pool of reused addresses. Counted, not
 * measured: `sent()` is a copy of every hash it holds, so its length is what it keeps; the pool
 * says how many addresses it holds; the string cells of a filled pool are counted after a full
 * garbage collection.
 */
import { heapStats } from "bun:jsc";
import { afterEach, describe, expect, test } from "bun:test";
import { KEEP_SENT } from "../tools/sim/options.ts";
import { type Simulator, startSimulator } from "../tools/sim/server.ts";
import { POOL_SIZE, SyntheticFeed } from "../tools/sim/synthetic.ts";

const sims: Simulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.stop();
});

async function simulator(options: Parameters<typeof startSimulator>[0]): Promise<Simulator> {
  const sim = await startSimulator({ port: 0, rate: 0, ...options });
  sims.push(sim);
  return sim;
}

/** Subscribes on 127.0.0.1 and returns the hashes of the first `n` transactions received, in order. */
function receive(url: string, n: number): Promise<string[]> {
  const hashes: string[] = [];
  const ws = new WebSocket(url);
  return new Promise((done, fail) => {
    ws.onopen = () => ws.send('{"op":"unconfirmed_sub"}');
    ws.onmessage = (event) => {
      hashes.push(JSON.parse(String(event.data)).x.hash);
      if (hashes.length === n) ws.close();
    };
    ws.onclose = () => done(hashes);
    ws.onerror = () => fail(new Error(`websocket error on ${url}`));
  });
}

describe("what the simulator keeps of what it sent", () => {
  test(`by default, only the latest ${KEEP_SENT} hashes, however many it sent`, async () => {
    const n = KEEP_SENT * 2 + 1_234;
    const sim = await simulator({ count: n, seed: 19 });
    const received = await receive(sim.url, n);
    await sim.finished;
    expect(received.length).toBe(n);
    expect(sim.sentCount()).toBe(n);
    const kept = sim.sent();
    expect(kept.length).toBe(KEEP_SENT);
    expect(kept).toEqual(received.slice(-KEEP_SENT)); // the latest ones, oldest first
  }, 60_000);

  test("a ring of N holds the latest N, in order, as it wraps", async () => {
    const sim = await simulator({ count: 1_050, seed: 20, keepSent: 100 });
    const received = await receive(sim.url, 1_050);
    await sim.finished;
    expect(sim.sent()).toEqual(received.slice(-100));
    expect(sim.sentCount()).toBe(1_050);
  });

  test("keepSent 0 keeps nothing (`bun run sim` and `bun run demo`), and still counts", async () => {
    const sim = await simulator({ count: 500, seed: 21, keepSent: 0 });
    expect((await receive(sim.url, 500)).length).toBe(500);
    await sim.finished;
    expect(sim.sent()).toEqual([]);
    expect(sim.sentCount()).toBe(500);
  });

  test('keepSent "all", for a test that checks every transaction, keeps every one past the default bound', async () => {
    const n = KEEP_SENT + 500;
    const sim = await simulator({ count: n, seed: 22, keepSent: "all" });
    const received = await receive(sim.url, n);
    await sim.finished;
    expect(sim.sent()).toEqual(received);
  }, 60_000);

  test('keepSent must be an integer from 0 or "all"', async () => {
    for (const bad of [-1, 1.5, "some"]) {
      await expect(startSimulator({ port: 0, keepSent: bad as number })).rejects.toThrow(/keep-sent.*not allowed/);
    }
  });
});

describe("the pool of reused addresses", () => {
  test("drawn lazily, it never holds more than its size, however many transactions", () => {
    const feed = new SyntheticFeed(23, { pool: 500 });
    for (let i = 0; i < 20_000; i++) feed.next(1_700_000_000);
    // The tail reached in about 140,000 draws: every address but the last, which the Zipf draw never picks.
    expect(feed.poolHeld).toBeGreaterThanOrEqual(499);
    expect(feed.poolHeld).toBeLessThanOrEqual(500);
  });

  test("filled at start, it holds its whole size at once and not one more after", () => {
    const feed = new SyntheticFeed(24, { pool: 2_000, fillPool: true });
    expect(feed.poolHeld).toBe(2_000);
    for (let i = 0; i < 5_000; i++) feed.next(1_700_000_000);
    expect(feed.poolHeld).toBe(2_000);
  });

  test("a filled pool gives the same transactions as a lazy one (an address depends on its number only)", () => {
    const lazy = new SyntheticFeed(25, { pool: 3_000 });
    const filled = new SyntheticFeed(25, { pool: 3_000, fillPool: true });
    for (let i = 0; i < 2_000; i++) expect(filled.next(1_700_000_000 + i)).toEqual(lazy.next(1_700_000_000 + i));
  });

  test(`\`bun run sim\`'s pool (${POOL_SIZE.toLocaleString("en-US")}) holds flat strings: a few string cells an address, not a rope of one per character`, () => {
    Bun.gc(true);
    const before = heapStats().objectTypeCounts.string ?? 0;
    const feed = new SyntheticFeed(26, { fillPool: true });
    Bun.gc(true);
    const cells = (heapStats().objectTypeCounts.string ?? 0) - before;
    expect(feed.poolHeld).toBe(POOL_SIZE);
    // The address and its script, and the hex the script is made of; built by `+=`, a bech32 address was a rope of ~45 cells until first sent.
    expect(cells / POOL_SIZE).toBeLessThan(5);
  }, 30_000);
});
