/**
 * GET /stream against the real app on Bun.serve and the run-wide real Redis, seeded through the
 * consumers' own scripts: a client receives `hello`, then a `tx` event per new transaction in
 * the order stored, its id the transaction's number (increasing by one; minute events carry
 * none); a client that never reads is dropped once its queue is
 * full, and the queue never holds more than its bound (asserted on the broadcaster's counters);
 * the caps per address and overall. (A real socket that never reads: stream-memory.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { Broadcaster } from "../src/api/stream/service.ts";
import { createLogger } from "../src/domain/log.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { freePort } from "../tools/infra/process.ts";
import { fill } from "../tools/testkit/fill.ts";
import { testEnv, waitFor } from "./helpers/env.ts";

const { config, kafka, redis } = testEnv();
const QUEUE_MAX = 16;
const apiRedis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
let broadcaster: Broadcaster | undefined;
const app = createApp({
  config,
  redis: apiRedis,
  kafka: probe,
  projections: PROJECTIONS,
  log: createLogger("stream-test", config),
  fresh: { shared: false },
  broadcaster: (store, now) => (broadcaster = new Broadcaster(store, now, { intervalMs: 50, queueMax: QUEUE_MAX })),
});
const port = freePort();
const base = `http://127.0.0.1:${port}`;
const stats = () => (broadcaster as Broadcaster).stats();

beforeAll(() => {
  app.listen({ port, hostname: "127.0.0.1" });
});
afterAll(async () => {
  broadcaster?.close();
  await app.stop(true);
  await probe.close();
  apiRedis.disconnect();
});

let serial = 0;
function tx(time: number, value: number): Transaction {
  const n = serial++;
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`stream-${n}`).digest("hex"),
    time,
    size: 150 + n,
    weight: 2 * (150 + n),
    inputs: [{ address: `in-${n % 3}`, value: value + 100 }],
    outputs: [{ address: `out-${n % 4}`, value }],
    value,
    fee: 100,
    received_at: time * 1000,
  };
}
/** What every consumer group would write for `txs`, on Redis's clock. */
async function seed(txs: Transaction[]) {
  await fill(redis, config, txs);
}

interface Event {
  id?: number;
  event: string;
  data: unknown;
}

/** Reads SSE events off a response body. */
function reader(res: Response, abort: AbortController) {
  const body = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const events: Event[] = [];
  const more = async () => {
    const { value, done } = await body.read();
    if (done) throw new Error("stream ended");
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
      if (fields.event) events.push({ id: fields.id ? Number(fields.id) : undefined, event: fields.event, data: JSON.parse(fields.data ?? "null") });
      end = buffer.indexOf("\n\n");
    }
  };
  return {
    events,
    /** Reads until `count` events matching `match` have arrived. */
    async until(match: (e: Event) => boolean, count = 1): Promise<Event[]> {
      while (events.filter(match).length < count) await more();
      return events.filter(match);
    },
    /** Hangs up (closes the connection). */
    cancel: () => {
      abort.abort();
      return body.cancel().catch(() => {});
    },
  };
}

describe("GET /stream", () => {
  test("hello, then the new transactions as tx events in order with increasing ids", async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    await seed([tx(nowSec - 30, 1_000), tx(nowSec - 20, 2_000)]); // before the client: baseline, not sent
    const abort = new AbortController();
    const res = await fetch(`${base}/stream`, { signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const sse = reader(res, abort);
    const [hello] = await sse.until((e) => e.event === "hello");
    expect(hello?.id).toBeUndefined();
    // The transactions stored before: the hello's seq (the stream's last number), none sent.
    const seq = (hello?.data as { seq: number } | undefined)?.seq ?? -1;
    expect(seq).toBeGreaterThanOrEqual(2);
    expect(stats().clients).toBe(1);

    const fresh = [tx(nowSec - 3, 30_000), tx(nowSec - 2, 40_000), tx(nowSec - 1, 5_000_000_000)];
    await seed(fresh);
    const txs = await sse.until((e) => e.event === "tx", 3);
    expect(txs.map((e) => (e.data as { hash: string }).hash)).toEqual(fresh.map((t) => t.hash));
    expect(txs[2]?.data).toEqual({
      hash: fresh[2]?.hash,
      time: nowSec - 1,
      size: fresh[2]?.size,
      inputs: fresh[2]?.inputs,
      outputs: fresh[2]?.outputs,
      value: 5_000_000_000,
      fee: 100,
    });
    // The current minute changed too: a minute event with the new count.
    await sse.until((e) => e.event === "minute");

    // Only tx events carry an id: the transaction's number, one more than the last.
    expect(sse.events.filter((e) => e.event !== "tx").every((e) => e.id === undefined)).toBe(true);
    const ids = sse.events.filter((e) => e.id !== undefined).map((e) => e.id as number);
    expect(ids).toEqual([seq + 1, seq + 2, seq + 3]);
    expect(stats().seq).toBe(seq + 3);

    // A second batch arrives after the first; no event is repeated.
    const later = [tx(nowSec, 7_000)];
    await seed(later);
    const all = await sse.until((e) => e.event === "tx", 4);
    expect(all.map((e) => (e.data as { hash: string }).hash)).toEqual([...fresh, ...later].map((t) => t.hash));
    expect(all.map((e) => e.id)).toEqual([seq + 1, seq + 2, seq + 3, seq + 4]);

    await sse.cancel();
    await waitFor("the client to be removed", () => stats().clients === 0);
  });

  test("a client that never reads is dropped when its bounded queue is full", async () => {
    // Through app.handle: a Response whose body nobody ever reads (no socket buffers in between).
    const stalled = await app.handle(new Request(`${base}/stream`));
    expect(stalled.status).toBe(200);
    const abort = new AbortController();
    const live = reader(await fetch(`${base}/stream`, { signal: abort.signal }), abort);
    await live.until((e) => e.event === "hello");
    await waitFor("both clients", () => stats().clients === 2);
    const droppedBefore = stats().dropped;

    const nowSec = Math.floor(Date.now() / 1000);
    // More events than the queue holds, a few per poll (one poll's events always fit an empty queue).
    const BATCH = 6;
    for (let batch = 0; batch < 4; batch++) {
      await seed(Array.from({ length: BATCH }, (_, i) => tx(nowSec - 10 + batch, 10_000 + batch * 100 + i)));
      await live.until((e) => e.event === "tx", (batch + 1) * BATCH);
    }
    await waitFor("the stalled client to be dropped", () => stats().dropped === droppedBefore + 1);
    expect(stats().clients).toBe(1); // the reading client stays
    expect(stats().maxQueued).toBeLessThanOrEqual(QUEUE_MAX);
    // Its stream was closed and its queue released: reading it now ends at once, empty.
    expect(await stalled.text()).toBe("");
    await live.cancel();
    await waitFor("no clients", () => stats().clients === 0);
  });
});

describe("GET /stream caps", () => {
  test("over the per-address cap: JSON 429 with Retry-After; over the overall cap: JSON 503 with Retry-After", async () => {
    let capped: Broadcaster | undefined;
    const make = (maxClients: number, maxPerAddress: number) =>
      createApp({
        config,
        redis: apiRedis,
        kafka: probe,
        projections: PROJECTIONS,
        log: createLogger("stream-test", config),
        fresh: { shared: false },
        broadcaster: (store, now) => (capped = new Broadcaster(store, now, { intervalMs: 50, maxClients, maxPerAddress })),
      });
    try {
      const perAddress = make(10, 2);
      const open = [await perAddress.handle(new Request(`${base}/stream`)), await perAddress.handle(new Request(`${base}/stream`))];
      expect(open.map((r) => r.status)).toEqual([200, 200]);
      const over = await perAddress.handle(new Request(`${base}/stream`));
      expect(over.status).toBe(429);
      expect(over.headers.get("retry-after")).toBe("10");
      expect(await over.json()).toEqual({ error: "rate_limited", message: "at most 2 live streams per client address; close one or try again later" });
      expect(capped?.stats()).toMatchObject({ clients: 2, refused: 1 });
      capped?.close();

      const overall = make(1, 5);
      expect((await overall.handle(new Request(`${base}/stream`))).status).toBe(200);
      const full = await overall.handle(new Request(`${base}/stream`));
      expect(full.status).toBe(503);
      expect(full.headers.get("retry-after")).toBe("10");
      expect((await full.json()).error).toBe("unavailable");
    } finally {
      capped?.close();
    }
  });
});
