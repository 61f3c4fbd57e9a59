/**
 * What the simulator sends: frames from the synthetic generator or from a recorded file (and,
 * for fault tests, malformed frames: ./malformed.ts). A frame carries the transaction hash when
 * it has one, so the simulator can say which transactions it delivered.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { SyntheticFeed, type SyntheticOptions } from "./synthetic.ts";

export interface Frame {
  /** Text, or bytes sent as a binary frame (malformed frames only: bytes that are not UTF-8). */
  text: string | Uint8Array;
  hash?: string;
  /** How a malformed frame is broken (one of `MALFORMED_KINDS`, ./malformed.ts). */
  kind?: string;
}

/** Unix seconds now: what a frame is stamped with when it is taken. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Synthetic transactions stamped when they are taken; `count` 0 means endless. The generator (and
 * its address pool, filled here with `fillPool`) is made at the call, not at the first frame.
 */
export function syntheticFrames(seed: number, count: number, options: Pick<SyntheticOptions, "fillPool"> = {}): AsyncGenerator<Frame> {
  const feed = new SyntheticFeed(seed, options);
  return (async function* () {
    for (let i = 0; !count || i < count; i++) {
      const message = feed.next(nowSeconds());
      yield { text: JSON.stringify(message), hash: message.x.hash };
    }
  })();
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
