/**
 * What the simulator sends: frames from the synthetic generator or from a recorded file, and
 * malformed frames for fault tests. A frame carries the transaction hash when it has one, so the
 * simulator can say which transactions it delivered.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Random } from "./random.ts";
import { SyntheticFeed } from "./synthetic.ts";

export interface Frame {
  text: string;
  hash?: string;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Synthetic transactions stamped when they are taken; `count` 0 means endless. */
export async function* syntheticFrames(seed: number, count: number): AsyncGenerator<Frame> {
  const feed = new SyntheticFeed(seed);
  for (let i = 0; !count || i < count; i++) {
    const message = feed.next(nowSeconds());
    yield { text: JSON.stringify(message), hash: message.x.hash };
  }
}

/**
 * The lines of a .jsonl recording, in order, `loop` times, at most `count` (0: all). Lines are
 * sent as recorded, even when they are not valid (a recording of bad input replays bad input);
 * `retime` stamps `x.time` with the time the line is taken.
 */
export async function* replayFrames(file: string, options: { retime: boolean; loop: number; count: number }): AsyncGenerator<Frame> {
  let sent = 0;
  for (let round = 0; round < options.loop; round++) {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      if (options.count && sent++ >= options.count) return;
      let message: { x?: { hash?: unknown; time?: unknown } } | undefined;
      try {
        message = JSON.parse(line);
      } catch {
        yield { text: line };
        continue;
      }
      const hash = typeof message?.x?.hash === "string" ? message.x.hash : undefined;
      if (options.retime && message?.x && typeof message.x === "object") {
        message.x.time = nowSeconds();
        yield { text: JSON.stringify(message), hash };
      } else {
        yield { text: line, hash };
      }
    }
  }
}

/** Broken variants of a valid message: each a kind of bad input the producer must dead-letter. */
const BREAKERS: ((m: ReturnType<SyntheticFeed["next"]>, text: string) => string)[] = [
  (_, text) => text.slice(0, text.length >> 1), // truncated: not JSON
  (m) => JSON.stringify({ ...m, x: { ...m.x, hash: undefined } }), // missing hash
  (m) => JSON.stringify({ ...m, x: { ...m.x, time: undefined } }), // missing time
  (m) => JSON.stringify({ ...m, x: { ...m.x, time: String(m.x.time) } }), // time as a string
  (m) => JSON.stringify({ ...m, x: { ...m.x, size: 1e9 } }), // absurd size
  (m) => JSON.stringify({ ...m, x: { ...m.x, out: m.x.out.map((o) => ({ ...o, value: -o.value })) } }), // negative values
  (m) => JSON.stringify({ ...m, x: { ...m.x, out: m.x.out.map((o) => ({ ...o, value: o.value + 0.5 })) } }), // fractional values
  (m) => JSON.stringify({ ...m, x: { ...m.x, out: m.x.out.map((o) => ({ ...o, value: 2_200_000_000_000_000 })) } }), // above 21 million BTC
];

/** A malformed frame, built from a synthetic transaction. */
export function malformedFrame(rng: Random, template: SyntheticFeed): Frame {
  const message = template.next(nowSeconds());
  const breaker = BREAKERS[rng.int(0, BREAKERS.length - 1)] as (typeof BREAKERS)[number];
  return { text: breaker(message, JSON.stringify(message)) };
}
