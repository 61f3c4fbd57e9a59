/**
 * `bun run bench stream`: /stream, the API's server-sent events, against the running pipeline
 * (issue 19, items 3 and 4): the simulator (in this process), the producer, one process per
 * consumer group and `bun run api` (bench/live.ts), and a client of /stream in this process that
 * behaves as EventSource (it reconnects with Last-Event-ID when the server ends the connection).
 *
 *   stream_delivery_p99_ms   at DELIVERY_RATE tx/s: for each transaction, from the moment it
 *   stream_delivery_p50_ms   became readable in Redis (bench/live.ts `ReadableWatch`: its body
 *                            polled every ~1 ms; the start of the poll that found it) to the
 *                            arrival of its `tx` event at the client. Goal: p99 ≤ 250 ms.
 *   stream_missed            at MISSED_RATE tx/s for MISSED_SECONDS s: the transactions stored
 *                            in Redis (their bodies, checked one by one once the feed ended and
 *                            the pipeline settled) that the client never received. Goal: 0. The
 *                            note gives the `missed` events (how many, and the transactions they
 *                            count), the duplicates (tx events for a hash already received), the
 *                            `reset` events and the reconnections.
 *
 * Within its deadline (bench/deadline.ts; BENCH_STREAM_DEADLINE_S replaces it).
 */
import { loadavg } from "node:os";
import type Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import type { Config } from "../src/domain/config.ts";
import { txBodyKey } from "../src/projections/transactions/keys.ts";
import { lastTransactionSeq } from "../src/projections/transactions/read.ts";
import { type Deadline, readProducer } from "./deadline.ts";
import type { Bench, Figure } from "./index.ts";
import { benchRedis, type LiveStack, ReadableWatch, SseClient, startFeed, startLiveStack } from "./live.ts";
import { percentile, round } from "./stats.ts";

const DELIVERY_RATE = 100;
/** Transactions sent in the first seconds (the stream's poller and the client settle), discarded. */
const DELIVERY_WARMUP_SECONDS = 5;
const DELIVERY_SECONDS = Number(process.env.BENCH_STREAM_SECONDS ?? 30);
const MISSED_RATE = 500;
const MISSED_SECONDS = Number(process.env.BENCH_STREAM_MISSED_SECONDS ?? 20);
/** How long the pipeline and the client may take, after the feed ended, to store and deliver what it sent. */
const SETTLE_MS = 30_000;

/** Waits until `done()` or `ms` passed; whether it is done. */
async function settle(deadline: Deadline, stack: LiveStack, ms: number, done: () => boolean | Promise<boolean>): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await Promise.race([done(), stack.crashed])) return true;
    if (Date.now() > until) return false;
    await deadline.sleep(50);
  }
}

/** Which of `hashes` have their body stored in Redis. */
async function storedOf(redis: Redis, config: Pick<Config, "REDIS_PREFIX">, hashes: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < hashes.length; i += 1_000) {
    const chunk = hashes.slice(i, i + 1_000);
    const pipeline = redis.pipeline();
    for (const h of chunk) pipeline.exists(txBodyKey(config, h));
    const replies = (await pipeline.exec()) ?? [];
    chunk.forEach((h, j) => {
      if (Number(replies[j]?.[1] ?? 0) > 0) out.add(h);
    });
  }
  return out;
}

/** stream_delivery_*: DELIVERY_RATE tx/s, from readable in Redis to the client's tx event. */
async function delivery(redis: Redis, stack: LiveStack, deadline: Deadline): Promise<Record<string, Figure>> {
  const client = new SseClient(`${stack.api}/stream`, deadline);
  const watch = new ReadableWatch(redis, stack.config);
  let stopWatch = false;
  const count = DELIVERY_RATE * (DELIVERY_WARMUP_SECONDS + DELIVERY_SECONDS);
  let feed: Awaited<ReturnType<typeof startFeed>> | undefined;
  const watching = watch.run(deadline, () => stopWatch);
  watching.catch(() => {});
  try {
    deadline.step("connecting a client to /stream");
    await Promise.race([client.hello(), stack.crashed]);
    const before = (await readProducer(redis, stack.config)).dropped;
    feed = await startFeed(stack.env, { rate: DELIVERY_RATE, count, seed: 31, onDelivered: (hash) => watch.track(hash) });
    deadline.step(`${count} transactions at ${DELIVERY_RATE} tx/s, the client reading /stream`);
    await Promise.race([feed.sim.finished, stack.crashed]);
    const loadAverage = loadavg()[0] ?? 0;
    const got = new Map<string, number>();
    const gotAll = () => {
      for (const tx of client.txs) if (!got.has(tx.hash)) got.set(tx.hash, tx.at);
      return [...watch.at.keys()].every((h) => got.has(h));
    };
    deadline.step("waiting for the last transactions to be readable in Redis and reach the client");
    await settle(deadline, stack, SETTLE_MS, () => watch.waiting === 0 && gotAll());
    stopWatch = true;
    await watching;
    gotAll();
    const dropped = (await readProducer(redis, stack.config)).dropped - before;

    const times = [...feed.delivered.values()];
    const from = (times[0] ?? 0) + DELIVERY_WARMUP_SECONDS * 1000;
    const samples = [...feed.delivered].filter(([, at]) => at >= from).map(([hash]) => hash);
    const readable = samples.filter((h) => watch.at.has(h));
    let early = 0;
    const ms = readable.map((h) => {
      const at = got.get(h);
      if (at === undefined) return Number.POSITIVE_INFINITY;
      const d = at - (watch.at.get(h) as number);
      if (d < 0) early++;
      return Math.max(0, d);
    });
    const never = ms.filter((d) => d === Number.POSITIVE_INFINITY).length;
    const spanS = ((times.at(-1) ?? 0) - from) / 1000;
    const sentRate = samples.length / Math.max(spanS, 1e-3);
    const [p50, p99, max] = [0.5, 0.99, 1].map((p) => percentile(ms, p)) as [number, number, number];
    const resolution = `Redis polled every ${round(watch.meanGapMs, 1)} ms on average (longest gap ${round(watch.maxGapMs, 0)} ms)`;
    console.error(
      `bench stream: delivery of ${readable.length} transactions at ${round(sentRate, 1)} tx/s: p50 ${round(p50, 1)} ms, p99 ${round(p99, 1)} ms, max ${round(max, 1)} ms; ` +
        `${never} never received, ${early} received before the Redis poll found them; ${client.missed.length} missed events, ${client.reconnects} reconnections; ${resolution}; load average ${loadAverage.toFixed(1)}`,
    );
    if (readable.length < samples.length * 0.9 || !readable.length)
      throw new Error(`bench stream: only ${readable.length} of the ${samples.length} transactions sent became readable in Redis (${dropped} dropped by the producer)`);
    if (!Number.isFinite(p99))
      throw new Error(`bench stream: ${never} of ${readable.length} transactions readable in Redis never reached the /stream client (more than 1%: no p99)`);
    const note =
      `readable in Redis -> its tx event at a /stream client, ${readable.length} transactions at ${round(sentRate, 1)} tx/s over ${round(spanS, 0)} s (after ${DELIVERY_WARMUP_SECONDS} s discarded) ` +
      `through sim, producer, every group and bun run api; ${resolution}, so a figure can read up to that much short` +
      `${early ? `; ${early} received before the Redis poll found them, counted 0` : ""}${never ? `; ${never} never received (counted as infinitely late)` : ""}` +
      `${client.missed.length ? `; ${client.missed.length} missed events` : ""}${client.reconnects ? `; ${client.reconnects} reconnections` : ""}` +
      `${dropped ? `; ${dropped} dropped by the producer` : ""}; max ${round(max, 1)} ms; load average ${loadAverage.toFixed(1)}`;
    return {
      stream_delivery_p50_ms: { value: round(p50, 1), unit: "ms", note: "as stream_delivery_p99_ms" },
      stream_delivery_p99_ms: { value: round(p99, 1), unit: "ms", goal: { op: "<=", value: 250 }, note },
    };
  } finally {
    stopWatch = true;
    await Promise.race([watching.catch(() => {}), Bun.sleep(2_000)]);
    await client.close();
    await feed?.stop();
  }
}

/** stream_missed: MISSED_RATE tx/s for MISSED_SECONDS s; stored transactions the client never received. */
async function missed(redis: Redis, stack: LiveStack, deadline: Deadline): Promise<Record<string, Figure>> {
  const client = new SseClient(`${stack.api}/stream`, deadline);
  let feed: Awaited<ReturnType<typeof startFeed>> | undefined;
  try {
    deadline.step("connecting a client to /stream");
    await Promise.race([client.hello(), stack.crashed]);
    const before = (await readProducer(redis, stack.config)).dropped;
    const count = MISSED_RATE * MISSED_SECONDS;
    feed = await startFeed(stack.env, { rate: MISSED_RATE, count, seed: 37 });
    deadline.step(`${count} transactions at ${MISSED_RATE} tx/s, the client reading /stream`);
    await Promise.race([feed.sim.finished, stack.crashed]);
    const loadAverage = loadavg()[0] ?? 0;
    const sent = [...feed.delivered.keys()];
    const times = [...feed.delivered.values()];
    const spanS = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000;

    // Settled: every sent transaction stored (or dropped by the producer), and the client has
    // received up to the stream's last number.
    deadline.step("waiting for every transaction sent to be stored, and for the client to receive up to the stream's last");
    let stored = new Set<string>();
    let dropped = 0;
    await settle(deadline, stack, SETTLE_MS, async () => {
      dropped = (await readProducer(redis, stack.config)).dropped - before;
      stored = await storedOf(redis, stack.config, sent);
      return stored.size + dropped >= sent.length;
    });
    const last = await lastTransactionSeq(redis, stack.config);
    await settle(deadline, stack, SETTLE_MS, () => (client.txs.at(-1)?.id ?? 0) >= last);
    stored = await storedOf(redis, stack.config, sent);

    const received = new Map<string, number>();
    for (const tx of client.txs) received.set(tx.hash, (received.get(tx.hash) ?? 0) + 1);
    const missing = [...stored].filter((h) => !received.has(h)).length;
    const duplicates = [...received.values()].reduce((s, n) => s + n - 1, 0);
    const missedCount = client.missed.reduce((s, m) => s + m.missed, 0);
    const sentRate = sent.length / Math.max(spanS, 1e-3);
    const lost = sent.length - stored.size;
    console.error(
      `bench stream: ${sent.length} transactions at ${round(sentRate, 0)} tx/s over ${round(spanS, 1)} s, ${stored.size} stored: the client never received ${missing}; ` +
        `${client.missed.length} missed events (counting ${missedCount}), ${duplicates} duplicates, ${client.resets.length} resets, ${client.reconnects} reconnections; ` +
        `${client.txs.length} tx events in all; load average ${loadAverage.toFixed(1)}`,
    );
    const note =
      `stored in Redis and never received by a /stream client (EventSource-like: reconnects with Last-Event-ID): ${sent.length} transactions sent at ${round(sentRate, 0)} tx/s over ${round(spanS, 1)} s ` +
      `through sim, producer, every group and bun run api, ${stored.size} stored${lost ? ` (${lost} not stored${dropped ? `, ${dropped} dropped by the producer` : ""})` : ""}; ` +
      `missed events ${client.missed.length} (counting ${missedCount} transactions); duplicates ${duplicates}; resets ${client.resets.length}; reconnections ${client.reconnects}; load average ${loadAverage.toFixed(1)}`;
    return { stream_missed: { value: missing, unit: "tx", goal: { op: "<=", value: 0 }, note } };
  } finally {
    await client.close();
    await feed?.stop();
  }
}

const bench: Bench = {
  name: "stream",
  // About 2 minutes: start-up, 35 s at 100 tx/s, 20 s at 500 tx/s, settling and stopping.
  deadlineSeconds: 300 + DELIVERY_SECONDS + MISSED_SECONDS,
  async run(deadline) {
    const kafka = new Kafka({ clientId: "bench-stream", brokers: (process.env.KAFKA_BROKERS ?? "").split(","), logLevel: logLevel.NOTHING });
    const redis = benchRedis();
    const stack = await startLiveStack("stream", kafka, redis, deadline);
    try {
      const figures = { ...(await delivery(redis, stack, deadline)), ...(await missed(redis, stack, deadline)) };
      stack.unwatch();
      return figures;
    } finally {
      await stack.stop();
      redis.disconnect();
    }
  },
};

export default bench;
