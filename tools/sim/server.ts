/**
 * The feed simulator: a websocket server on 127.0.0.1 speaking blockchain.com's protocol
 * (`unconfirmed_sub`, `ping` -> `pong`, `utx` messages), fed by synthetic transactions or a
 * recording (./frames.ts), with fault knobs for tests (dropped connections, malformed frames,
 * duplicates).
 *
 * One stream for all subscribers, as the real feed: while nobody is subscribed, or a subscriber
 * cannot take more (websocket backpressure), nothing is taken from the source. `sent()` lists the
 * hashes of the transactions handed to at least one subscribed client: the latest `keepSent`
 * (`KEEP_SENT` unless given, a bounded ring), or every one with `keepSent: "all"`, which a test
 * asks for when it checks every transaction. `bun run sim` keeps none (./main.ts).
 */
import { existsSync } from "node:fs";
import type { ServerWebSocket } from "bun";
import { createLogger, type Logger } from "../../src/domain/log.ts";
import { type Frame, replayFrames, syntheticFrames } from "./frames.ts";
import { malformedFrame } from "./malformed.ts";
import { KEEP_SENT, resolveSimOptions, type SimOptions } from "./options.ts";
import { Random } from "./random.ts";
import { SyntheticFeed } from "./synthetic.ts";

export interface Simulator {
  readonly url: string;
  readonly port: number;
  /** The seed in use (given, or drawn at random). */
  readonly seed: number;
  /**
   * Hashes of the transactions delivered to a subscribed client, in order (twice with `duplicate`):
   * every one with `keepSent: "all"`, else only the latest `keepSent` (`KEEP_SENT` by default).
   */
  sent(): string[];
  /** How many hashes were delivered in all, kept or not. */
  sentCount(): number;
  /** Resolves when the source is exhausted (`count` reached, or the recording sent `loop` times). */
  readonly finished: Promise<void>;
  /** Stops taking from the source until `resume()` (tests settle the pipeline with it). */
  pause(): void;
  resume(): void;
  /** Closes every subscribed connection, as the real feed does now and then. */
  dropConnections(): void;
  /** How many clients are subscribed now (a client that reconnected after a drop counts again). */
  subscribed(): number;
  stop(): Promise<void>;
}

interface Connection {
  frames: number;
  blocked: boolean;
}

const PONG = JSON.stringify({ op: "pong" });
/** How a simulated drop closes a connection: 1012, "service restart", as a feed being redeployed would. */
const DROP = [1012, "simulated drop"] as const;
/** At full speed, let the event loop breathe (accept, drain, ping) every this many frames. */
const YIELD_EVERY = 256;

/** The sent hashes: all of them, or the latest `limit` in a ring that never grows past it. */
class SentHashes {
  private readonly kept: string[] = [];
  private total = 0;

  constructor(private readonly limit: number) {}

  get count(): number {
    return this.total;
  }

  add(hash: string): void {
    if (this.kept.length < this.limit) this.kept.push(hash);
    else if (this.limit > 0) this.kept[this.total % this.limit] = hash;
    this.total++;
  }

  /** Oldest first. */
  list(): string[] {
    if (this.kept.length < this.limit || this.limit === 0) return this.kept.slice();
    const start = this.total % this.limit;
    return [...this.kept.slice(start), ...this.kept.slice(0, start)];
  }
}

/**
 * `onDelivered` sees every frame handed to at least one subscribed client, malformed ones
 * included (they carry no hash): tests compute their expected figures from exactly what was sent.
 */
export async function startSimulator(
  given: Partial<SimOptions> = {},
  log: Logger = createLogger("sim", { LOG_LEVEL: "warn" }),
  onDelivered?: (frame: Frame) => void,
): Promise<Simulator> {
  const options = resolveSimOptions(given);
  if (options.replay && !existsSync(options.replay)) throw new Error(`sim: --replay ${options.replay}: no such file`);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const source = options.replay ? replayFrames(options.replay, options) : syntheticFrames(seed, options.count, { fillPool: options.fillPool ?? false });
  const faults = new Random(seed ^ 0x5bd1e995);
  // The malformed frames' templates: a pool of their own, filled as the main one when they are sent at all.
  const templates = new SyntheticFeed(seed ^ 0x2545f491, { fillPool: (options.fillPool ?? false) && options.malformed > 0 });
  const subscribers = new Set<ServerWebSocket<Connection>>();
  const hashes = new SentHashes(options.keepSent === "all" ? Number.POSITIVE_INFINITY : (options.keepSent ?? KEEP_SENT));
  let stopped = false;
  let paused = false;
  let wake = () => {};
  let finish = () => {};
  const finished = new Promise<void>((done) => (finish = done));

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: options.port,
    fetch(req, srv) {
      if (srv.upgrade(req, { data: { frames: 0, blocked: false } })) return;
      return new Response("blockchain.com feed simulator: connect with a websocket\n", { status: 426 });
    },
    websocket: {
      data: {} as Connection,
      message(ws, raw) {
        let op: unknown;
        try {
          op = JSON.parse(String(raw))?.op;
        } catch {
          return;
        }
        if (op === "ping") ws.send(PONG);
        else if (op === "unconfirmed_sub") {
          subscribers.add(ws);
          log.info("client subscribed", { clients: subscribers.size });
          wake();
        } else if (op === "unconfirmed_unsub") subscribers.delete(ws);
      },
      drain(ws) {
        ws.data.blocked = false;
        wake();
      },
      close(ws) {
        subscribers.delete(ws);
        wake();
      },
    },
  });

  const deliver = (frame: Frame) => {
    let delivered = false;
    for (const ws of subscribers) {
      const status = ws.send(frame.text);
      if (status === 0) continue; // the connection is gone
      delivered = true;
      if (status === -1) ws.data.blocked = true;
      if (options.dropEvery && ++ws.data.frames % options.dropEvery === 0) {
        subscribers.delete(ws);
        ws.close(...DROP);
        log.debug(`dropped a connection after ${ws.data.frames} frames`);
      }
    }
    if (!delivered) return;
    if (frame.hash) hashes.add(frame.hash);
    onDelivered?.(frame);
  };

  const pump = async () => {
    const interval = options.rate > 0 ? 1000 / options.rate : 0;
    let due = performance.now();
    let burst = 0;
    while (!stopped) {
      if (paused || !subscribers.size || [...subscribers].some((ws) => ws.data.blocked)) {
        await new Promise<void>((done) => (wake = done));
        due = Math.max(due, performance.now());
        continue;
      }
      if (interval) {
        const now = performance.now();
        if (now < due) {
          await Bun.sleep(due - now);
          continue;
        }
        due = Math.max(due + interval, now - 1000); // behind by more than a second: do not burst it all
      } else if (++burst % YIELD_EVERY === 0) {
        await new Promise((done) => setImmediate(done));
        continue;
      }
      if (options.malformed && faults.chance(options.malformed)) {
        deliver(malformedFrame(faults, templates));
        continue;
      }
      const next = await source.next();
      if (next.done) {
        log.info(`source exhausted: ${hashes.count} transactions sent`);
        return finish();
      }
      deliver(next.value);
      if (options.duplicate) deliver(next.value);
    }
  };
  pump().catch((err) => log.error("simulator stopped sending", { error: String(err) }));

  const port = server.port as number;
  return {
    url: `ws://127.0.0.1:${port}/inv`,
    port,
    seed,
    sent: () => hashes.list(),
    sentCount: () => hashes.count,
    finished,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      wake();
    },
    dropConnections() {
      for (const ws of subscribers) ws.close(...DROP);
      subscribers.clear();
    },
    subscribed: () => subscribers.size,
    async stop() {
      stopped = true;
      wake();
      // Not awaited either: a generator suspended in an await (a paced send, backpressure) would
      // finish `return` only when that await settles; `stopped` already ends the pump.
      source.return(undefined).catch(() => {});
      // Not awaited: in Bun 1.3.14 the promise never settles once the server has closed a
      // websocket itself (--drop-every), https://github.com/oven-sh/bun/issues/36223.
      // The listener and the connections are closed at once either way.
      void server.stop(true);
    },
  };
}
