/**
 * The Redis connection watchdog (src/redis/watchdog.ts) against the real Redis, through a TCP
 * relay that can freeze its open connections: the socket stays open and nothing comes back, as
 * with a server that went away unnoticed. The watchdog must replace the connection, and the
 * command that was waiting on it must be answered on the new one.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { createServer, connect as netConnect, type Socket } from "node:net";
import Redis from "ioredis";
import { watchConnection } from "../src/redis/watchdog.ts";
import { freePort } from "../tools/infra/process.ts";
import { adminLogin, testEnv } from "./helpers/env.ts";

setDefaultTimeout(30_000);

const env = testEnv();

/** A relay to Redis; `freeze()` stops forwarding on the connections open now (new ones work). */
async function freezableRelay(target: URL) {
  const pairs: [Socket, Socket][] = [];
  const server = createServer((client) => {
    const upstream = netConnect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) s.on("error", () => {}).on("close", () => (client.destroy(), upstream.destroy()));
    client.pipe(upstream).pipe(client);
    pairs.push([client, upstream]);
  });
  const port = freePort();
  await new Promise<void>((ready) => server.listen(port, "127.0.0.1", ready));
  return {
    port,
    connections: () => pairs.length,
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close() {
      server.close();
      for (const pair of pairs) for (const s of pair) s.destroy();
    },
  };
}

const relay = await freezableRelay(new URL(env.config.REDIS_URL));
const redis = new Redis(`redis://127.0.0.1:${relay.port}`, { maxRetriesPerRequest: null, ...adminLogin() });
redis.on("error", () => {});
afterAll(() => {
  redis.disconnect();
  relay.close();
});

test("a connection that stops answering is replaced, and the command waiting on it is answered on the new one", async () => {
  let replaced = 0;
  const stop = watchConnection(redis, () => replaced++, 100, 300);
  const key = `${env.config.REDIS_PREFIX}:watchdog`;
  await env.redis.set(key, "here");
  expect(await redis.get(key)).toBe("here");
  expect(relay.connections()).toBe(1);

  relay.freeze();
  const waiting = redis.get(key); // would wait for ever on the frozen connection
  expect(await waiting).toBe("here");
  expect(replaced).toBe(1);
  expect(relay.connections()).toBe(2);
  stop();
  await env.redis.del(key);
});

test("a connection that answers is left alone", async () => {
  let replaced = 0;
  const stop = watchConnection(redis, () => replaced++, 50, 300);
  const before = relay.connections();
  await Bun.sleep(600);
  expect(await redis.ping()).toBe("PONG");
  expect(replaced).toBe(0);
  expect(relay.connections()).toBe(before);
  stop();
});
