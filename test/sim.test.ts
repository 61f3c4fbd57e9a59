/**
 * The feed simulator (tools/sim): its options, its synthetic transactions, replay, and the fault
 * knobs, read back by a plain websocket client.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MAX_TX_WEIGHT } from "../src/domain/transaction.ts";
import { readFeedMessage } from "../src/feed/utx.ts";
import { parseSimArgs } from "../tools/sim/options.ts";
import { type Simulator, startSimulator } from "../tools/sim/server.ts";
import type { UtxMessage } from "../tools/sim/synthetic.ts";

const FIXTURE = join(import.meta.dir, "fixtures", "utx-sample.jsonl");
const fixture = (await Bun.file(FIXTURE).text()).trim().split("\n");

const sims: Simulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.stop();
});

async function simulator(options: Parameters<typeof startSimulator>[0]): Promise<Simulator> {
  const sim = await startSimulator({ port: 0, ...options });
  sims.push(sim);
  return sim;
}

/** Subscribes and keeps the frames until there are `n` (or `enough` says so, or the simulator closes the connection). */
function collect(url: string, n: number, enough = (frames: string[]) => frames.length === n): Promise<string[]> {
  const frames: string[] = [];
  const ws = new WebSocket(url);
  return new Promise((done, fail) => {
    ws.onopen = () => ws.send('{"op":"unconfirmed_sub"}');
    ws.onmessage = (event) => {
      frames.push(String(event.data));
      if (enough(frames)) ws.close();
    };
    ws.onclose = () => done(frames);
    ws.onerror = () => fail(new Error(`websocket error on ${url}`));
  });
}

const parse = (frames: string[]) => frames.map((f) => JSON.parse(f) as UtxMessage);

describe("options", () => {
  test("defaults", () => {
    expect(parseSimArgs([])).toEqual({ port: 8765, rate: 7, count: 0, retime: false, loop: 1, dropEvery: 0, malformed: 0, duplicate: false });
  });

  test("every option", () => {
    const argv = [
      "--port",
      "9001",
      "--rate",
      "0.5",
      "--seed",
      "42",
      "--count",
      "10",
      "--replay",
      "x.jsonl",
      "--retime",
      "--loop",
      "3",
      "--drop-every",
      "5",
      "--malformed",
      "0.25",
      "--duplicate",
    ];
    expect(parseSimArgs(argv)).toEqual({ port: 9001, rate: 0.5, seed: 42, count: 10, replay: "x.jsonl", retime: true, loop: 3, dropEvery: 5, malformed: 0.25, duplicate: true });
  });

  test.each([
    [["--rate=-1"], /--rate=-1 is not allowed; expected transactions per second/],
    [["--rate", "fast"], /--rate="fast" is not allowed/],
    [["--port", "70000"], /--port=70000 is not allowed; expected port on 127.0.0.1/],
    [["--malformed", "2"], /--malformed=2 is not allowed; expected fraction of frames/],
    [["--loop", "0"], /--loop=0 is not allowed/],
    [["--drop-every", "1.5"], /--drop-every=1.5 is not allowed/],
    [["--bogus"], /Unknown option '--bogus'/],
  ])("%p is refused with a message naming the option", (argv, message) => {
    expect(() => parseSimArgs(argv)).toThrow(message);
  });

  test("a replay file that does not exist is refused at start", async () => {
    await expect(startSimulator({ port: 0, replay: "/nonexistent.jsonl" })).rejects.toThrow(/no such file/);
  });
});

describe("synthetic transactions", () => {
  test("are valid blockchain.com-shaped utx messages with realistic addresses, OP_RETURNs, large values, weights and address reuse", async () => {
    const sim = await simulator({ rate: 0, count: 3000, seed: 3 });
    const frames = await collect(sim.url, 3000);
    expect(frames.length).toBe(3000);
    const addresses = new Map<string, number>();
    let opReturns = 0;
    let large = 0;
    let weighed = 0;
    for (const frame of frames) {
      const read = readFeedMessage(frame, Date.now());
      if (read.kind !== "tx") throw new Error(`invalid synthetic frame: ${JSON.stringify(read)}`);
      const { x } = JSON.parse(frame) as UtxMessage;
      expect(x.vin_sz).toBe(x.inputs.length);
      expect(x.vout_sz).toBe(x.out.length);
      expect(read.tx.fee).toBeGreaterThan(0);
      // A segwit-like weight, 2 to 4 times the size, or none (as in older frames): the record says null.
      expect(read.tx.weight).toBe(x.weight ?? null);
      if (x.weight !== undefined) {
        weighed++;
        expect(Number.isInteger(x.weight)).toBe(true);
        expect(x.weight).toBeGreaterThanOrEqual(2 * x.size);
        expect(x.weight).toBeLessThanOrEqual(Math.min(4 * x.size, MAX_TX_WEIGHT));
      }
      for (const o of x.out) {
        if (o.addr === undefined) opReturns++;
        else addresses.set(o.addr, (addresses.get(o.addr) ?? 0) + 1);
        if (o.value > 2 ** 31) large++;
      }
    }
    expect(opReturns).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(0);
    // About one frame in ten without weight: consumers see both.
    expect(weighed / frames.length).toBeGreaterThan(0.85);
    expect(weighed / frames.length).toBeLessThan(0.95);
    for (const address of addresses.keys()) {
      expect(address).toMatch(/^(1[1-9A-HJ-NP-Za-km-z]{25,33}|3[1-9A-HJ-NP-Za-km-z]{33}|bc1q[02-9ac-hj-np-z]{38}|bc1q[02-9ac-hj-np-z]{58}|bc1p[02-9ac-hj-np-z]{58})$/);
    }
    const prefixes = new Set([...addresses.keys()].map((a) => (a.startsWith("bc1") ? a.slice(0, 4) : a[0])));
    expect([...prefixes].sort()).toEqual(["1", "3", "bc1p", "bc1q"]);
    // Heavy-tailed popularity: the most used address is paid far more often than a typical one.
    const uses = [...addresses.values()].sort((a, b) => b - a);
    expect(uses[0]).toBeGreaterThan(50);
    expect(uses[Math.floor(uses.length / 2)]).toBe(1);
  });

  test("the same seed gives the same transactions; another seed, others", async () => {
    const [a, b, c] = await Promise.all([
      simulator({ rate: 0, count: 50, seed: 9, keepSent: "all" }),
      simulator({ rate: 0, count: 50, seed: 9 }),
      simulator({ rate: 0, count: 50, seed: 10 }),
    ]);
    const [fa, fb, fc] = await Promise.all([a, b, c].map((s) => collect(s.url, 50)));
    const strip = (frames: string[]) => parse(frames).map((m) => ({ ...m.x, time: 0 }));
    expect(strip(fa as string[])).toEqual(strip(fb as string[]));
    expect(parse(fc as string[]).map((m) => m.x.hash)).not.toEqual(parse(fa as string[]).map((m) => m.x.hash));
    expect(a.sent()).toEqual(parse(fa as string[]).map((m) => m.x.hash));
  });

  test("pings are answered with pongs", async () => {
    const sim = await simulator({ rate: 0, count: 0, keepSent: "all" });
    const ws = new WebSocket(sim.url);
    const reply = await new Promise<string>((done) => {
      ws.onopen = () => ws.send('{"op":"ping"}');
      ws.onmessage = (event) => done(String(event.data));
    });
    ws.close();
    expect(reply).toBe('{"op":"pong"}');
    expect(sim.sent()).toEqual([]); // nothing is sent before unconfirmed_sub
  });
});

describe("replay", () => {
  test("sends the recording in order, as recorded, `loop` times", async () => {
    const sim = await simulator({ replay: FIXTURE, rate: 0, loop: 2 });
    const frames = await collect(sim.url, fixture.length * 2);
    expect(frames).toEqual([...fixture, ...fixture]);
    await sim.finished;
  });

  test("--retime stamps each message with the time it is sent and changes nothing else", async () => {
    const sim = await simulator({ replay: FIXTURE, rate: 0, retime: true, count: 5 });
    const before = Math.floor(Date.now() / 1000);
    const frames = parse(await collect(sim.url, 5));
    const after = Math.floor(Date.now() / 1000);
    for (const [i, m] of frames.entries()) {
      const recorded = JSON.parse(fixture[i] as string);
      expect(m.x.time).toBeGreaterThanOrEqual(before);
      expect(m.x.time).toBeLessThanOrEqual(after);
      expect({ ...m.x, time: 0 }).toEqual({ ...recorded.x, time: 0 });
    }
  });
});

describe("fault knobs", () => {
  test("--malformed sends about that fraction of frames broken, each one refused by the producer's reader", async () => {
    const sim = await simulator({ rate: 0, count: 600, seed: 4, malformed: 0.25 });
    const kind = (frame: string) => readFeedMessage(frame, Date.now()).kind;
    let transactions = 0;
    const frames = await collect(sim.url, 0, (f) => {
      if (kind(f.at(-1) as string) === "tx") transactions++;
      return transactions === 600;
    });
    const invalid = frames.filter((f) => kind(f) === "invalid").length;
    expect(invalid + transactions).toBe(frames.length);
    expect(invalid / frames.length).toBeGreaterThan(0.18);
    expect(invalid / frames.length).toBeLessThan(0.32);
  });

  test("--duplicate sends every transaction twice in a row", async () => {
    const sim = await simulator({ rate: 0, count: 20, seed: 5, duplicate: true, keepSent: "all" });
    const frames = await collect(sim.url, 40);
    for (let i = 0; i < 40; i += 2) expect(frames[i]).toBe(frames[i + 1] as string);
    expect(sim.sent().length).toBe(40);
    expect(new Set(sim.sent()).size).toBe(20);
  });

  test("--drop-every closes the connection after that many frames", async () => {
    const sim = await simulator({ rate: 0, seed: 6, dropEvery: 7, keepSent: "all" });
    expect((await collect(sim.url, 100)).length).toBe(7);
    expect((await collect(sim.url, 100)).length).toBe(7);
    expect(sim.sent().length).toBe(14);
  });
});
