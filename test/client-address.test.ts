/**
 * Client addresses a client cannot forge (issue 17, item 8), over real HTTP: the app listens on
 * 127.0.0.1, so the socket's peer (this test) plays the innermost proxy, and the X-Forwarded-For
 * header is written as proxies write it: each appends the address it saw, after whatever the
 * client sent. Whatever the client writes to the left, it is still counted as itself, by the
 * rate limit and by the /stream caps; an IPv6 client is counted by its /64.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { RateLimiter } from "../src/api/rate-limit.ts";
import { Broadcaster } from "../src/api/stream/service.ts";
import { Transport } from "../src/api/stream/transport.ts";
import { loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { freePort } from "../tools/infra/process.ts";
import { testEnv, waitFor } from "./helpers/env.ts";

const { config: base, env, kafka } = testEnv();
const apiRedis = connectRedis(base.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), base.TOPIC, []);
const closers: (() => unknown)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await probe.close();
  apiRedis.disconnect();
});

const LIMIT = 3;

/** The app on a real socket with these variables; the rate limiter's clock is pinned, so a minute never turns during a test. */
function serve(vars: Record<string, string>) {
  const config = loadConfig({ ...env, ...vars });
  let broadcaster: Broadcaster | undefined;
  const app = createApp({
    config,
    redis: apiRedis,
    kafka: probe,
    projections: PROJECTIONS,
    log: createLogger("client-address-test", config),
    fresh: { shared: false },
    rateLimiter: new RateLimiter(config.RATE_LIMIT_PER_MIN, () => 0),
    broadcaster: (store, now) =>
      (broadcaster = new Broadcaster(store, now, { intervalMs: 50, maxClients: config.STREAM_MAX_CLIENTS, maxPerAddress: config.STREAM_MAX_PER_ADDRESS })),
  });
  const port = freePort();
  app.listen({ port, hostname: "127.0.0.1" });
  const streams: AbortController[] = [];
  closers.push(async () => {
    for (const s of streams) s.abort();
    // Closing the broadcaster while the server still holds two just-aborted streams makes
    // `stop(true)` hang for good (Bun 1.3.14): let the server see the aborts first.
    await waitFor("the streams to end", () => (broadcaster?.stats().clients ?? 0) === 0);
    broadcaster?.close();
    await app.stop(true);
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    /** Status of GET /metrics with this X-Forwarded-For (none when undefined). */
    status: async (forwarded?: string) => (await fetch(`${url}/metrics`, { headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded } })).status,
    /** Opens GET /stream with this X-Forwarded-For and keeps it open; its status. */
    stream: async (forwarded: string) => {
      const abort = new AbortController();
      streams.push(abort);
      const res = await fetch(`${url}/stream`, { headers: { "x-forwarded-for": forwarded }, signal: abort.signal });
      if (res.status !== 200) return { status: res.status, message: (await res.json()).message as string };
      return { status: 200, message: "" };
    },
    clients: () => broadcaster?.stats().clients,
  };
}

/** Ten values a client might write itself: addresses, lists, garbage. */
const FORGED = ["1.1.1.1", "2.2.2.2, 3.3.3.3", "::1", "127.0.0.1", "unknown", "<script>", "10.0.0.1, 10.0.0.2, 10.0.0.3", "2001:db8::1", "198.51.100.8", "x"];

describe("the rate limit counts the client the proxies saw, whatever it writes", () => {
  // [TRUST_PROXY, what the proxies append after the client's own header]
  const setups: [string, string][] = [
    ["1", "198.51.100.7"],
    ["true", "198.51.100.7"],
    // The outer proxy appended the client; the inner one (our socket peer) appended the outer one.
    ["2", "198.51.100.7, 10.9.9.9"],
  ];
  for (const [trust, appended] of setups) {
    test(`TRUST_PROXY=${trust}: ten varied X-Forwarded-For values from one client get ${LIMIT} answers, then 429`, async () => {
      const api = serve({ TRUST_PROXY: trust, RATE_LIMIT_PER_MIN: String(LIMIT) });
      const statuses: number[] = [];
      for (const forged of FORGED) statuses.push(await api.status(`${forged}, ${appended}`));
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
      // Another client behind the same proxies has its own window, even when it writes the first one's address.
      expect(await api.status(`198.51.100.7, ${appended.replace("198.51.100.7", "198.51.100.70")}`)).toBe(200);
    });
  }

  test("TRUST_PROXY=2: a header shorter than the proxies counts its left-most entry; no header counts the socket", async () => {
    const api = serve({ TRUST_PROXY: "2", RATE_LIMIT_PER_MIN: "1" });
    expect(await api.status("203.0.113.1")).toBe(200);
    expect(await api.status("203.0.113.1")).toBe(429);
    expect(await api.status("203.0.113.2")).toBe(200);
    expect(await api.status()).toBe(200); // 127.0.0.1, the socket
    expect(await api.status()).toBe(429);
  });

  test("TRUST_PROXY=false (the default): the header is ignored, the socket is the client", async () => {
    const api = serve({ RATE_LIMIT_PER_MIN: String(LIMIT) });
    const statuses: number[] = [];
    for (const forged of FORGED) statuses.push(await api.status(forged));
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
  });

  test("IPv6 clients of one /64 share a window; IPv4-mapped IPv6 is the IPv4 address", async () => {
    const api = serve({ TRUST_PROXY: "1", RATE_LIMIT_PER_MIN: String(LIMIT) });
    const oneSlash64 = ["2001:db8:0:1::1", "2001:DB8:0:1:ffff:ffff:ffff:ffff", "[2001:db8:0:1::abcd]:443", "2001:db8:0:1:0:0:0:2"];
    const statuses: number[] = [];
    for (const address of oneSlash64) statuses.push(await api.status(address));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await api.status("2001:db8:0:2::1")).toBe(200); // the next /64
    expect(await api.status("198.51.100.9")).toBe(200);
    expect(await api.status("::ffff:198.51.100.9")).toBe(200);
    expect(await api.status("::ffff:c633:6409")).toBe(200);
    expect(await api.status("198.51.100.9:52000")).toBe(429);
  });

  test("TRUST_PROXY accepts false, true and 0 to 10, nothing else", () => {
    for (const ok of ["false", "true", "0", "1", "2", "10"]) expect(loadConfig({ TRUST_PROXY: ok }).TRUST_PROXY).toBe(ok);
    expect(loadConfig({}).TRUST_PROXY).toBe("false");
    for (const bad of ["yes", "-1", "11", "1.5", "TRUE"])
      expect(() => loadConfig({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY=.*false \(= 0\), true \(= 1\) or an integer from 0 to 10$/);
  });
});

describe("/stream caps count the client the proxies saw, an IPv6 client by its /64", () => {
  test("STREAM_MAX_PER_ADDRESS=2: two streams from one /64 fill its share; the next /64 and a forged header change nothing", async () => {
    const api = serve({ TRUST_PROXY: "1", STREAM_MAX_PER_ADDRESS: "2" });
    expect((await api.stream("2001:db8:0:1::a")).status).toBe(200);
    expect((await api.stream("9.9.9.9, 2001:db8:0:1::b")).status).toBe(200);
    const over = await api.stream("8.8.8.8, 2001:db8:0:1:1:2:3:4");
    expect(over).toEqual({ status: 429, message: "at most 2 live streams per client address; close one or try again later" });
    expect((await api.stream("2001:db8:0:2::a")).status).toBe(200);
    expect(api.clients()).toBe(3);
  });

  test("once half the streams are taken, an address that holds one gets no other", async () => {
    const api = serve({ TRUST_PROXY: "1", STREAM_MAX_CLIENTS: "4", STREAM_MAX_PER_ADDRESS: "8" });
    expect((await api.stream("198.51.100.1")).status).toBe(200);
    expect((await api.stream("198.51.100.1")).status).toBe(200);
    expect(await api.stream("198.51.100.1")).toEqual({
      status: 429,
      message: "at most 1 live stream per client address while the server is more than half full; close it or try again later",
    });
    expect((await api.stream("198.51.100.2")).status).toBe(200);
    expect((await api.stream("2001:db8::1")).status).toBe(200);
    expect((await api.stream("2001:db8:0:9::1")).status).toBe(503); // full
    expect(api.clients()).toBe(4);
  });

  test("with the defaults, filling the server takes 563 addresses, not 125", () => {
    const config = loadConfig({});
    const transport = new Transport({ maxClients: config.STREAM_MAX_CLIENTS, maxPerAddress: config.STREAM_MAX_PER_ADDRESS });
    // Each new address takes all the streams it is given; count the addresses until the server is full.
    let addresses = 0;
    while (transport.size < config.STREAM_MAX_CLIENTS && addresses < 10_000) {
      const address = `10.1.${addresses >> 8}.${addresses & 255}`;
      addresses++;
      for (;;) {
        try {
          transport.admit(address);
        } catch {
          break;
        }
        transport.open({ address, ready: async () => {}, first: () => "" }, () => () => {});
      }
    }
    transport.close();
    expect(addresses).toBe(563);
  });
});
