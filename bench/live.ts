/**
 * What the live benches (freshness.bench.ts, stream.bench.ts) share: a running pipeline on a
 * namespace of its own, the simulator in this process (so the bench knows every hash it sends,
 * and when), the producer, one process per consumer group of the registry and the API
 * (src/roles/api.ts itself) as child processes; and the clocks they read:
 *
 *   - `ReadableWatch`: when each sent transaction became readable in Redis. It polls the stored
 *     body of every sent transaction not found yet (one pipelined EXISTS each, `intervalMs`
 *     apart); a transaction's time is the start of the poll that first found it. The transactions
 *     script writes the body, the time-ordered set and the stream /stream reads in one call, so
 *     that is the moment the API could first read it.
 *   - `SseClient`: a /stream client as a browser's EventSource is: it records when each `tx`
 *     event arrived, the `missed` and `reset` events, and reconnects with Last-Event-ID when the
 *     server ends the connection.
 *
 * Every wait goes through the bench's deadline; `stop()` ends every process started here.
 * All traffic goes to 127.0.0.1.
 */
import { join } from "node:path";
import Redis from "ioredis";
import type { Kafka } from "kafkajs";
import { type Config, loadConfig } from "../src/domain/config.ts";
import { txBodyKey } from "../src/projections/transactions/keys.ts";
import { redisSecurityFromEnv, redisSecurityOptions } from "../src/redis/connection.ts";
import { diesWithParent, freePort } from "../tools/infra/process.ts";
import type { Frame } from "../tools/sim/frames.ts";
import { type Simulator, startSimulator } from "../tools/sim/server.ts";
import { dropNamespace } from "../tools/testkit/namespace.ts";
import { type ConsumerProcesses, startConsumerProcesses } from "./consumers.bench.ts";
import type { Deadline } from "./deadline.ts";

const ROOT = join(import.meta.dir, "..");

/**
 * The bench's own Redis client: auto-pipelined (a poll's commands go in one round trip), logged in
 * as the environment says (REDIS_USERNAME, REDIS_PASSWORD or REDIS_PASSWORD_FILE, TLS), as the
 * roles' connections are (src/redis/connection.ts).
 */
export function benchRedis(url = process.env.REDIS_URL ?? ""): Redis {
  return new Redis(url, { enableAutoPipelining: true, ...redisSecurityOptions(url, redisSecurityFromEnv(url)) });
}

/** A namespace of its own: topic, group ids, Redis prefix. */
export function liveNamespace(name: string, extra: Record<string, string> = {}): { env: Record<string, string>; config: Config } {
  const id = Math.random().toString(36).slice(2, 8);
  const env = {
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "",
    REDIS_URL: process.env.REDIS_URL ?? "",
    TOPIC: `bench-${name}-${id}`,
    GROUP_PREFIX: `bench-${name}-${id}-`,
    REDIS_PREFIX: `bench-${name}-${id}`,
    LOG_LEVEL: "warn",
    ...extra,
  };
  return { env, config: loadConfig(env) };
}

/** A file of the repository started as a process that dies with this one. */
export function spawnFile(file: string, env: Record<string, string>, args: string[] = []) {
  return Bun.spawn(diesWithParent([process.execPath, join(ROOT, file), ...args]), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
  });
}

/** Stops a child: SIGTERM, SIGKILL after `graceMs`; bounded. */
export async function stopChild(proc: ReturnType<typeof Bun.spawn>, graceMs = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await Promise.race([proc.exited, Bun.sleep(graceMs + 2_000)]);
  clearTimeout(timer);
}

/** `bun run api` (src/roles/api.ts) on a free port of 127.0.0.1; resolves once /metrics answers. */
export async function startApi(env: Record<string, string>, deadline: Deadline): Promise<{ base: string; proc: ReturnType<typeof Bun.spawn> }> {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawnFile("src/roles/api.ts", { ...env, PORT: String(port) });
  const until = Date.now() + 30_000;
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`bun run api exited with ${proc.exitCode} before answering`);
      if (
        await fetch(`${base}/metrics`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return { base, proc };
      if (Date.now() > until) throw new Error(`bun run api did not answer on ${base} within 30 s`);
      await deadline.sleep(100);
    }
  } catch (err) {
    await stopChild(proc);
    throw err;
  }
}

/** A feed: the simulator in this process and a producer reading it. */
export interface Feed {
  sim: Simulator;
  producer: ReturnType<typeof Bun.spawn>;
  /** Every hash the simulator delivered, with when (performance.now()). */
  delivered: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * The simulator at `rate` tx/s for `count` transactions (a fixed seed), and a producer on the
 * namespace reading it. `onDelivered` sees each hash as the simulator hands it to the producer.
 */
export async function startFeed(env: Record<string, string>, opts: { rate: number; count: number; seed: number; onDelivered?: (hash: string, at: number) => void }): Promise<Feed> {
  const delivered = new Map<string, number>();
  const sim = await startSimulator({ port: 0, rate: opts.rate, count: opts.count, seed: opts.seed, keepSent: 0 }, undefined, (frame: Frame) => {
    if (!frame.hash) return;
    const at = performance.now();
    delivered.set(frame.hash, at);
    opts.onDelivered?.(frame.hash, at);
  });
  const producer = spawnFile("src/roles/producer.ts", { ...env, FEED_URL: sim.url });
  return {
    sim,
    producer,
    delivered,
    async stop() {
      await stopChild(producer);
      await Promise.race([sim.stop(), Bun.sleep(1_000)]); // sim.stop() can hang in Bun 1.3 (tools/sim/server.ts)
    },
  };
}

/** The consumers of every group and the API on a namespace; feeds come and go on it. */
export interface LiveStack {
  env: Record<string, string>;
  config: Config;
  /** The API's base URL, http://127.0.0.1:<port>. */
  api: string;
  consumers: ConsumerProcesses;
  /** Rejects when a consumer or the API exits before `stop()`. */
  crashed: Promise<never>;
  /** Ends the deadline's watch of the namespace (a bench calls it once it has its figures). */
  unwatch(): void;
  stop(): Promise<void>;
}

/**
 * One process per group of the registry (given 3 s to join, so the first transactions meet the
 * steady state) and `bun run api`, on a namespace of its own, which the deadline watches from the
 * start. `stop()` stops them and drops the namespace (topics and keys).
 */
export async function startLiveStack(name: string, kafka: Kafka, redis: Redis, deadline: Deadline): Promise<LiveStack> {
  const { env, config } = liveNamespace(name);
  const unwatch = deadline.watch(`bench ${name}`, config);
  const consumers = startConsumerProcesses(env);
  let api: Awaited<ReturnType<typeof startApi>> | undefined;
  let stopping = false;
  const stop = async () => {
    stopping = true;
    if (api) await stopChild(api.proc);
    await consumers.stop();
    await dropNamespace(kafka, redis, config);
  };
  try {
    deadline.step("letting the consumer groups join");
    await deadline.sleep(3_000);
    deadline.step("starting bun run api");
    api = await startApi(env, deadline);
  } catch (err) {
    await stop();
    throw err;
  }
  const apiProc = api.proc;
  const apiExited = apiProc.exited.then((code) => {
    if (!stopping) throw new Error(`bun run api exited with ${code} before the bench stopped it`);
    return new Promise<never>(() => {});
  });
  const crashed = Promise.race([consumers.crashed, apiExited]);
  crashed.catch(() => {});
  return { env, config, api: api.base, consumers, crashed, unwatch, stop };
}

/**
 * When each delivered transaction became readable in Redis: `track(hash)` adds one, `run` polls
 * every tracked transaction not found yet, every `intervalMs`, until `until()` says stop.
 */
export class ReadableWatch {
  /** hash -> performance.now() at the start of the poll that first found its body. */
  readonly at = new Map<string, number>();
  private readonly pending = new Set<string>();
  polls = 0;
  private first = 0;
  private last = 0;
  /** The longest gap between two poll starts, ms. */
  maxGapMs = 0;

  constructor(
    private readonly redis: Redis,
    private readonly config: Pick<Config, "REDIS_PREFIX">,
  ) {}

  track(hash: string): void {
    if (!this.at.has(hash)) this.pending.add(hash);
  }

  /** Transactions tracked and not readable yet. */
  get waiting(): number {
    return this.pending.size;
  }

  /** The mean time between two polls, ms. */
  get meanGapMs(): number {
    return this.polls > 1 ? (this.last - this.first) / (this.polls - 1) : Number.NaN;
  }

  async run(deadline: Deadline, until: () => boolean, intervalMs = 1): Promise<void> {
    while (!until()) {
      const started = performance.now();
      if (this.polls) this.maxGapMs = Math.max(this.maxGapMs, started - this.last);
      else this.first = started;
      this.last = started;
      this.polls++;
      const hashes = [...this.pending];
      if (hashes.length) {
        const pipeline = this.redis.pipeline();
        for (const h of hashes) pipeline.exists(txBodyKey(this.config, h));
        const replies = (await pipeline.exec()) ?? [];
        hashes.forEach((h, i) => {
          if (Number(replies[i]?.[1] ?? 0) > 0) {
            this.at.set(h, started);
            this.pending.delete(h);
          }
        });
      }
      await deadline.sleep(intervalMs);
    }
  }
}

export interface SseTx {
  id: number;
  hash: string;
  /** performance.now() when its event arrived. */
  at: number;
}

/**
 * A /stream client, as EventSource is: it parses the events as they arrive, and when the server
 * ends the connection it reconnects after the `retry` the server gave, with Last-Event-ID.
 */
export class SseClient {
  readonly txs: SseTx[] = [];
  readonly missed: { id: number | undefined; missed: number }[] = [];
  readonly resets: number[] = [];
  /** The hello's seq, per connection. */
  readonly hellos: number[] = [];
  reconnects = 0;
  private lastId: string | undefined;
  private retryMs = 2_000;
  private closed = false;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly deadline: Deadline,
  ) {
    this.done = this.loop();
    this.done.catch(() => {});
  }

  /** Resolves once the first connection's hello came. */
  async hello(): Promise<number> {
    for (;;) {
      const seq = this.hellos[0];
      if (seq !== undefined) return seq;
      await this.deadline.sleep(10);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reader?.cancel().catch(() => {});
    await Promise.race([this.done, Bun.sleep(2_000)]);
  }

  private async loop(): Promise<void> {
    while (!this.closed && !this.deadline.signal.aborted) {
      try {
        const res = await fetch(this.url, { headers: this.lastId === undefined ? {} : { "last-event-id": this.lastId }, signal: this.deadline.signal });
        if (res.status !== 200 || !res.body) throw new Error(`GET /stream answered ${res.status}`);
        this.reader = res.body.getReader();
        await this.read(this.reader);
      } catch {
        // Refused, or the connection broke: retry as EventSource would.
      }
      if (this.closed || this.deadline.signal.aborted) return;
      this.reconnects++;
      await Bun.sleep(this.retryMs);
    }
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const at = performance.now();
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        this.event(buffer.slice(0, end), at);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
      }
    }
  }

  private event(block: string, at: number): void {
    const fields: Record<string, string> = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "");
    }
    if (fields.retry && /^\d+$/.test(fields.retry)) this.retryMs = Number(fields.retry);
    if (fields.id !== undefined) this.lastId = fields.id;
    const id = fields.id === undefined ? undefined : Number(fields.id);
    const data = () => JSON.parse(fields.data ?? "null");
    switch (fields.event) {
      case "tx":
        this.txs.push({ id: id ?? Number.NaN, hash: (data() as { hash: string }).hash, at });
        break;
      case "missed":
        this.missed.push({ id, missed: Number((data() as { missed: number }).missed) });
        break;
      case "reset":
        this.resets.push(id ?? 0);
        break;
      case "hello":
        this.hellos.push(Number((data() as { seq: number }).seq));
        break;
    }
  }
}
