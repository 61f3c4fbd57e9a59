/**
 * /stream skips nothing (issue 19, item 3), against the real app, Redis and (for the replay)
 * Kafka and a consumer process:
 * - at 500 tx/s for 20 s (10,000 transactions through the transactions script), some stamped
 *   older than ones already sent and some delivered twice, a client on a real socket receives
 *   every hash exactly once, in the order stored, ids 1, 2, … on from its hello's seq;
 * - `Last-Event-ID` within the ring resumes with no gap and no duplicate, whether the poller ran
 *   all along or starts with the connection (its ring read from Redis); one older than the ring
 *   gets `missed` with the exact count, then the rest; one beyond the last gets `reset`; a stream
 *   that Redis lost starts again at 1 after a `reset`;
 * - a replay (the projection dropped, the consumer replays the log) streams nothing again. (Nor
 *   does a consumer's first start on a log written before it: that is a replay into an empty
 *   Redis too; this test starts the consumer on an empty log.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { Broadcaster } from "../src/api/stream/service.ts";
import { createLogger } from "../src/domain/log.ts";
import { WHOLE } from "../src/domain/shards.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { transactions } from "../src/projections/transactions/index.ts";
import { txStreamKey } from "../src/projections/transactions/keys.ts";
import { lastTransactionSeq, storedTransactionCount } from "../src/projections/transactions/read.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { defineScripts } from "../src/redis/loader.ts";
import { groupProgress } from "../src/redis/read.ts";
import { freePort } from "../tools/infra/process.ts";
import { fill } from "../tools/testkit/fill.ts";
import { testEnv, waitFor } from "./helpers/env.ts";
import { createTopic, produce, txMessage } from "./helpers/kafka.ts";
import { Pipeline } from "./helpers/pipeline.ts";

const env = testEnv();
const { config, kafka } = env;
const redis = defineScripts(env.redis);
const apiRedis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
const broadcasters: Broadcaster[] = [];
/** The apps listening on a port. */
const listening: { stop: (closeActive?: boolean) => Promise<unknown> }[] = [];
const roles = new Pipeline(env, "stream-complete");

/** The API on this namespace; `opts` for its broadcaster (none: the defaults the API runs with). */
function api(opts?: ConstructorParameters<typeof Broadcaster>[2]) {
  let made: Broadcaster | undefined;
  const app = createApp({
    config,
    redis: apiRedis,
    kafka: probe,
    projections: PROJECTIONS,
    log: createLogger("stream-complete", config),
    fresh: { shared: false },
    ...(opts
      ? {
          broadcaster: (store, now) => {
            made = new Broadcaster(store, now, opts);
            broadcasters.push(made);
            return made;
          },
        }
      : {}),
  });
  return { app, broadcaster: () => made as Broadcaster };
}

afterAll(async () => {
  for (const b of broadcasters) b.close();
  for (const a of listening) await a.stop(true);
  await roles.stop();
  await probe.close();
  apiRedis.disconnect();
});

let serial = 0;
function tx(time: number): Transaction {
  const n = serial++;
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`complete-${config.REDIS_PREFIX}-${n}`).digest("hex"),
    time,
    size: 200 + (n % 50),
    weight: 800,
    inputs: [{ address: `in-${n % 40}`, value: 30_000 + n }],
    outputs: [
      { address: `out-${n % 60}`, value: 20_000 + n },
      { address: `change-${n % 20}`, value: 9_000 },
    ],
    value: 29_000 + n,
    fee: 1_000,
    received_at: time * 1000,
  };
}
const nowSec = () => Math.floor(Date.now() / 1000);
/** What the transactions group would write for `txs` (the stream with it). */
const seed = (txs: Transaction[]) => fill(redis, config, txs, { roles: [transactions.role] });

interface Event {
  id?: number;
  event: string;
  data: unknown;
}

/** Reads a response's SSE events in the background, as they come. */
function sse(res: Response) {
  expect(res.status).toBe(200);
  const body = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: Event[] = [];
  let ended = false;
  (async () => {
    let buffer = "";
    for (;;) {
      const { value, done } = await body.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const at = line.indexOf(": ");
          if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
        }
        if (fields.event) events.push({ id: fields.id === undefined ? undefined : Number(fields.id), event: fields.event, data: JSON.parse(fields.data ?? "null") });
        end = buffer.indexOf("\n\n");
      }
    }
  })()
    .catch(() => {})
    .finally(() => (ended = true));
  const of = (name: string) => events.filter((e) => e.event === name);
  return {
    events,
    of,
    ended: () => ended,
    /** The hello's seq, once it came. */
    hello: async () => ((await waitFor("the hello", () => of("hello")[0])).data as { seq: number }).seq,
    /** The tx events (id, hash) and the missed / reset ones, in the order received: what a client saw of the transactions. */
    seen: () =>
      events
        .filter((e) => e.event !== "minute" && e.event !== "health" && e.event !== "hello")
        .map((e) => (e.event === "tx" ? [e.id, (e.data as { hash: string }).hash] : [e.event, e.id, e.data])),
    cancel: () => body.cancel().catch(() => {}),
  };
}

/** `n` consecutive numbers from `from`. */
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("every transaction, in the order stored", () => {
  test("500 tx/s for 20 s, some stamped older than ones sent and some delivered twice: a client on a real socket receives every hash exactly once, in the order stored", async () => {
    const RATE = 500;
    const SECONDS = 20;
    const TICK_MS = 50;
    const PER_TICK = (RATE * TICK_MS) / 1000;
    const TOTAL = RATE * SECONDS;
    const { app } = api();
    const port = freePort();
    app.listen({ port, hostname: "127.0.0.1" });
    listening.push(app);
    const client = sse(await fetch(`http://127.0.0.1:${port}/stream`));
    const seq = await client.hello();

    // The feed: every 50 ms 25 transactions; one in 7 stamped 2 minutes back (older than many
    // already sent); every 20th tick also delivers a transaction of an earlier tick again.
    const sent: Transaction[] = [];
    let late = 0;
    let twice = 0;
    const started = Date.now();
    for (let tick = 0; sent.length < TOTAL; tick++) {
      const wait = started + tick * TICK_MS - Date.now();
      if (wait > 0) await Bun.sleep(wait);
      const now = nowSec();
      const batch = Array.from({ length: PER_TICK }, (_, i) => tx((sent.length + i) % 7 === 3 ? now - 120 : now));
      late += batch.filter((t) => t.time < now).length;
      const again = tick % 20 === 19 ? [sent[sent.length - 100] as Transaction] : [];
      twice += again.length;
      const applied = (await seed([...again, ...batch]))[transactions.role];
      expect(applied).toMatchObject({ applied: PER_TICK, duplicates: again.length, stale: 0 });
      sent.push(...batch);
    }
    const feedMs = Date.now() - started;
    await waitFor(`${TOTAL} tx events`, () => client.of("tx").length >= TOTAL, 60_000);
    const got = client.of("tx");
    console.log(
      `stream complete: ${TOTAL} transactions fed in ${(feedMs / 1000).toFixed(1)} s (${Math.round((TOTAL * 1000) / feedMs)} tx/s; ${late} stamped 2 min back, ${twice} delivered twice); the client received ${got.length} tx events, ${new Set(got.map((e) => (e.data as { hash: string }).hash)).size} distinct hashes, ${client.of("missed").length} missed events`,
    );
    expect(client.of("missed")).toEqual([]);
    expect(client.of("reset")).toEqual([]);
    expect(got.length).toBe(TOTAL);
    // Every hash once, in the order the script stored them, numbered on from the hello.
    expect(got.map((e) => (e.data as { hash: string }).hash)).toEqual(sent.map((t) => t.hash));
    expect(got.map((e) => e.id)).toEqual(range(seq + 1, TOTAL));
    expect(client.events.filter((e) => e.event !== "tx").every((e) => e.id === undefined)).toBe(true);
    expect(client.ended()).toBe(false);
    await client.cancel();
  }, 120_000);
});

describe("resuming with Last-Event-ID", () => {
  const RING = 20;
  const resumable = api({ intervalMs: 50, ringMax: RING });
  const open = async (lastEventId?: number) =>
    sse(await resumable.app.handle(new Request("http://localhost/stream", lastEventId === undefined ? {} : { headers: { "last-event-id": String(lastEventId) } })));
  const tail = (s: ReturnType<typeof sse>, n: number) => waitFor(`${n} tx events`, () => s.of("tx").length >= n && s.seen());

  test("within the ring: the events after it at once, then the live ones, with no gap and no duplicate (the poller running, or started by the connection)", async () => {
    const keeper = await open();
    const seq = await keeper.hello();
    const first = Array.from({ length: 5 }, () => tx(nowSec()));
    await seed(first);
    expect(await tail(keeper, 5)).toEqual(first.map((t, i) => [seq + 1 + i, t.hash]));

    // A client that got up to seq + 2 comes back while the poller runs.
    const back = await open(seq + 2);
    expect(await back.hello()).toBe(seq + 5);
    const more = Array.from({ length: 2 }, () => tx(nowSec()));
    await seed(more);
    const all = [...first, ...more];
    expect(await tail(back, 5)).toEqual(all.slice(2).map((t, i) => [seq + 3 + i, t.hash]));
    await tail(keeper, 7);
    await Promise.all([keeper.cancel(), back.cancel()]);
    await waitFor("the poller to stop", () => resumable.broadcaster().stats().clients === 0);

    // Nobody connected (the poller stopped): a client coming back starts it, and its ring is read from Redis.
    const later = await open(seq + 4);
    expect(await later.hello()).toBe(seq + 7);
    const last = tx(nowSec());
    await seed([last]);
    expect(await tail(later, 4)).toEqual([...all.slice(4), last].map((t, i) => [seq + 5 + i, t.hash]));
    await later.cancel();
  });

  test("older than the ring: `missed` with the exact count, then the ring, then the live ones; beyond the last: `reset`", async () => {
    const keeper = await open();
    const seq = await keeper.hello();
    const burst = Array.from({ length: 30 }, () => tx(nowSec()));
    await seed(burst);
    await tail(keeper, 30);
    const last = seq + 30;

    // It got up to seq + 3; the ring holds the last 20 (last - 19 .. last): 6 missed.
    const behind = await open(seq + 3);
    await tail(behind, 20);
    const fresh = tx(nowSec());
    await seed([fresh]);
    expect(await tail(behind, 21)).toEqual([
      ["missed", last - RING, { missed: last - RING - (seq + 3) }],
      ...burst.slice(30 - RING).map((t, i) => [last - RING + 1 + i, t.hash]),
      [last + 1, fresh.hash],
    ]);
    expect(last - RING - (seq + 3)).toBe(7);

    // A number this stream never gave (another Redis's): reset to the last, then live.
    const stranger = await open(last + 1_000);
    expect(await stranger.hello()).toBe(last + 1);
    expect(await waitFor("the reset", () => stranger.seen().length > 0 && stranger.seen())).toEqual([["reset", last + 1, { seq: last + 1 }]]);
    await Promise.all([keeper.cancel(), behind.cancel(), stranger.cancel()]);
  });

  test("a stream Redis lost (a FLUSHALL) starts again at 1, after a `reset` (id 0)", async () => {
    const keeper = await open();
    const seq = await keeper.hello();
    expect(seq).toBeGreaterThan(0);
    await redis.unlink(txStreamKey(config));
    const again = [tx(nowSec()), tx(nowSec())];
    await seed(again);
    expect(await tail(keeper, 2)).toEqual([["reset", 0, { seq: 0 }], ...again.map((t, i) => [1 + i, t.hash])]);
    await keeper.cancel();
  });
});

describe("a replay is not streamed again", () => {
  test("the projection dropped, the consumer replays the log into it: the stream gets nothing, then the next new transaction", async () => {
    const { app } = api({ intervalMs: 50 });
    await createTopic(kafka, config);
    const base = await lastTransactionSeq(redis, config);
    // The consumer starts on an empty log (its start is a replay of nothing), so what follows is live.
    roles.spawn(`consumer-${transactions.role}`);
    await waitFor("the consumer's start", async () => (await groupProgress(redis, config, transactions)).replayUntil.size === config.TOPIC_PARTITIONS, 90_000);
    const logged = Array.from({ length: 200 }, (_, i) => tx(nowSec() - 600 + i));
    await produce(kafka, config.TOPIC, logged.map(txMessage));
    await waitFor("the consumer to apply the log", async () => (await lastTransactionSeq(redis, config)) === base + 200, 90_000);
    const client = sse(await app.handle(new Request("http://localhost/stream")));
    expect(await client.hello()).toBe(base + 200);
    const stored = await storedTransactionCount(redis, config);

    // Dropped: the consumer finds no position, replays its log into fresh keys.
    await transactions.drop(redis, config, WHOLE);
    expect(await storedTransactionCount(redis, config)).toBe(0);
    await waitFor("the replay", async () => (await storedTransactionCount(redis, config)) === 200, 90_000);
    expect(stored).toBeGreaterThanOrEqual(200);
    expect(await lastTransactionSeq(redis, config)).toBe(base + 200);

    // The next new transaction is the first the client gets.
    const next = tx(nowSec());
    await produce(kafka, config.TOPIC, [txMessage(next)]);
    expect(await waitFor("the new transaction", () => client.of("tx").length > 0 && client.seen(), 60_000)).toEqual([[base + 201, next.hash]]);
    expect(await lastTransactionSeq(redis, config)).toBe(base + 201);
    await client.cancel();
  }, 240_000);
});
