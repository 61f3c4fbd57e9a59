/**
 * End to end, with nothing mocked: the feed simulator → the producer role → Kafka → every
 * consumer group of the registry (each as many processes as its spec says) → Redis → the API. What the API serves (counts per
 * minute, the top addresses on both sides, the latest 100 transactions with their inputs and
 * outputs) must equal an independent computation over the frames the simulator delivered
 * (test/helpers/expected.ts).
 */
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random } from "../tools/sim/random.ts";
import { SyntheticFeed } from "../tools/sim/synthetic.ts";
import { testEnv } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";

setDefaultTimeout(180_000);

const pipelines: Pipeline[] = [];
const dir = mkdtempSync(join(tmpdir(), "e2e-"));
afterEach(async () => {
  await Promise.all(pipelines.splice(0).map((p) => p.stop()));
});
process.on("beforeExit", () => rmSync(dir, { recursive: true, force: true }));

/**
 * A recording to replay: the checked-in sample of real blockchain.com messages and 4,000
 * synthetic ones, stamped over the last 55 minutes in shuffled order (late arrivals included).
 */
function recording(): string {
  const nowSec = Math.floor(Date.now() / 1000);
  const rng = new Random(42);
  const stamp = () => nowSec - 55 * 60 + rng.int(0, 54 * 60);
  const sample = readFileSync(join(import.meta.dir, "fixtures", "utx-sample.jsonl"), "utf8")
    .trim()
    .split("\n");
  const lines = sample.map((line) => {
    const message = JSON.parse(line);
    message.x.time = stamp();
    return JSON.stringify(message);
  });
  const feed = new SyntheticFeed(42);
  for (let i = 0; i < 4_000; i++) lines.push(JSON.stringify(feed.next(stamp())));
  const file = join(dir, "recording.jsonl");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

test("a replayed recording (real blockchain.com messages and synthetic ones, over the last hour): the API serves exactly the independent computation", async () => {
  const p = new Pipeline(testEnv(), "e2e-replay");
  pipelines.push(p);
  const sim = await p.feed({ replay: recording(), rate: 0 });
  p.spawnAll();
  await sim.finished;
  expect(p.frames.length).toBe(4_036);
  const result = await p.settle();
  expect(result.transactions).toBe(4_036);
  console.log(`e2e replay: ${result.transactions} transactions over ${p.expected().expected.minutes.size} minutes; lost ${result.lost}, counted twice ${result.twice}`);
});

test("the synthetic feed at 400 tx/s, every transaction sent twice: the API serves exactly the independent computation", async () => {
  const p = new Pipeline(testEnv(), "e2e-synthetic");
  pipelines.push(p);
  const sim = await p.feed({ rate: 400, count: 4_000, seed: 7, duplicate: true });
  p.spawnAll();
  await sim.finished;
  expect(p.frames.length).toBe(8_000);
  const result = await p.settle();
  expect(result.transactions).toBe(4_000);
  console.log(`e2e synthetic: ${result.transactions} transactions, each sent twice; lost ${result.lost}, counted twice ${result.twice}`);
});
