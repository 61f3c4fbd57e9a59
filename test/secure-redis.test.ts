/**
 * Redis over TLS with one ACL user per role (tools/infra/acl.ts), on the redis-server of the run's
 * secure stack (tools/testkit/secure.ts), started the way `bun run infra --secure` starts it: TLS
 * only, the ACL file made from the registry, certificates from a CA generated for the run; under a
 * REDIS_PREFIX of this file's own. Every connection goes through the roles' own factory
 * (src/redis/connection.ts) with REDIS_CA_FILE, REDIS_USERNAME and REDIS_PASSWORD as the
 * configuration gives them.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import type Redis from "ioredis";
import { loadConfig } from "../src/domain/config.ts";
import { shardsOf } from "../src/domain/projection.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { groupPrefix, metricsKey } from "../src/redis/keys.ts";
import { checkRedis } from "../src/redis/requirements.ts";
import { aclFile, type RedisRoleUser } from "../tools/infra/acl.ts";
import { type LocalRedis, pingRedis, redisAnswers } from "../tools/infra/redis.ts";
import type { Certificates } from "../tools/infra/secure.ts";
import { otherCertificates, type SharedSecureStack, secureStack } from "../tools/testkit/secure.ts";

setDefaultTimeout(60_000);

const PREFIX = "sec";
/** Two shards of the sharded projection, so its shard tags are in the test too. */
const config = loadConfig({ REDIS_PREFIX: PREFIX, ADDRESS_SHARDS: "2" });

let stack: SharedSecureStack;
/** The stack's users, made for the secure tests' prefixes (PREFIX among them). */
let users: readonly RedisRoleUser[];
const userOf = (role: string) => users.find((u) => u.role === role) as RedisRoleUser;

let certs: Certificates;
let server: LocalRedis;
const clients: Redis[] = [];
const password = (user: RedisRoleUser) => readFileSync(stack.passwordFile(user), "utf8").trim();

/** A client of the roles' factory as `user`, trusting `ca`. */
function as(user: RedisRoleUser | undefined, ca = certs.ca, extra: Record<string, string> = {}): Redis {
  const settings = loadConfig({
    REDIS_URL: server.url,
    REDIS_CA_FILE: ca,
    ...(user ? { REDIS_USERNAME: user.name, REDIS_PASSWORD: password(user) } : {}),
    ...extra,
  });
  const client = connectRedis(server.url, undefined, settings);
  clients.push(client);
  return client;
}

/** The error a command gets, as text ("" when it succeeded). */
const refusal = (promise: Promise<unknown>) => promise.then(() => "").catch((err: Error) => err.message);

beforeAll(async () => {
  stack = await secureStack();
  ({ users, certs, redis: server } = stack);
});

afterAll(() => {
  for (const c of clients) c.disconnect();
});

describe("the ACL users", () => {
  test("come from the registry: one consumer user per projection, besides the API, the producer and rebuild", () => {
    expect(users.map((u) => u.role)).toEqual(["api", "producer", ...PROJECTIONS.map((p) => `consumer-${p.role}`), "rebuild"]);
    expect(new Set(users.map((u) => u.name)).size).toBe(users.length);
  });

  test("the ACL file holds no password, only their hashes, and turns the default user off", () => {
    const text = aclFile(users, password);
    for (const user of users) expect(text).not.toContain(password(user));
    expect(text.split("\n")[0]).toBe("user default off resetkeys resetchannels -@all");
  });

  test("the server speaks TLS only: a plaintext PING gets no answer, the same over TLS does", async () => {
    expect(server.url.startsWith("rediss://")).toBe(true);
    expect(await redisAnswers(server.port)).toBe(false);
    expect(await redisAnswers(server.port, certs.ca)).toBe(true);
  });
});

describe("over TLS, each role as its own user", () => {
  test("every role connects, and passes the start-up check (INFO)", async () => {
    for (const user of users) {
      const redis = as(user);
      expect(await redis.ping()).toBe("PONG");
      await checkRedis(redis);
      expect(await redis.call("ACL", "WHOAMI").catch((e: Error) => e.message)).toMatch(/NOPERM/);
    }
  });

  test("FLUSHALL, FLUSHDB, CONFIG, KEYS, DEBUG and SHUTDOWN are refused to every role", async () => {
    for (const user of users) {
      const redis = as(user);
      const refused = await Promise.all([
        refusal(redis.flushall()),
        refusal(redis.flushdb()),
        refusal(redis.config("GET", "maxmemory")),
        refusal(redis.config("SET", "appendonly", "no")),
        refusal(redis.keys("*")),
        refusal(redis.call("DEBUG", "SLEEP", "0")),
        refusal(redis.call("SHUTDOWN", "NOSAVE")),
        refusal(redis.call("SCRIPT", "FLUSH")),
      ]);
      // DEBUG is refused before the ACL is asked (enable-debug-command is off), the rest by the ACL.
      expect({ user: user.name, refused: refused.map((r) => /^NOPERM|^ERR DEBUG command not allowed/.test(r)) }).toEqual({ user: user.name, refused: refused.map(() => true) });
    }
  });

  test("a consumer writes its own namespace (every shard of it) and the metrics hash, and nothing of another group: NOPERM", async () => {
    for (const spec of PROJECTIONS) {
      const redis = as(userOf(`consumer-${spec.role}`));
      for (const shard of shardsOf(spec, config)) {
        const own = `${groupPrefix(config, spec, shard)}acl-test`;
        expect(await redis.set(own, "1")).toBe("OK");
        expect(await redis.del(own)).toBe(1);
      }
      expect(await redis.hincrby(metricsKey(config), `acl_test_${spec.role}`, 1)).toBe(1);
      for (const other of PROJECTIONS.filter((p) => p !== spec)) {
        for (const shard of shardsOf(other, config)) {
          const theirs = `${groupPrefix(config, other, shard)}position`;
          expect(await refusal(redis.hset(theirs, "t:0", "1"))).toMatch(/^NOPERM/);
          expect(await refusal(redis.del(theirs))).toMatch(/^NOPERM/);
          // Through a script, a key in KEYS and a key the script builds are both checked.
          expect(await refusal(redis.eval("return redis.call('SET', KEYS[1], '1')", 1, theirs))).toMatch(/NOPERM|can't access at least one of the keys/);
        }
        const mine = groupPrefix(config, spec);
        const built = `return redis.call('SET', string.gsub(KEYS[1], ':${spec.namespace}:', ':${other.namespace}:') .. 'x', '1')`;
        expect(await refusal(redis.eval(built, 1, mine))).toMatch(/NOPERM|can't access at least one of the keys/);
      }
      // Keys outside the deployment's prefix are no one's.
      expect(await refusal(redis.set(`{other}:${spec.namespace}:x`, "1"))).toMatch(/^NOPERM/);
    }
  });

  test("the API reads every projection and writes nothing, not even through a script", async () => {
    const writer = as(userOf(`consumer-${PROJECTIONS[0]?.role}`));
    const key = `${groupPrefix(config, PROJECTIONS[0] as (typeof PROJECTIONS)[number])}acl-read`;
    await writer.set(key, "42");
    const api = as(userOf("api"));
    expect(await api.get(key)).toBe("42");
    expect(await api.hgetall(metricsKey(config))).toBeObject();
    expect(await refusal(api.set(key, "1"))).toMatch(/^NOPERM/);
    expect(await refusal(api.hincrby(metricsKey(config), "x", 1))).toMatch(/^NOPERM/);
    expect(await refusal(api.eval("return redis.call('SET', KEYS[1], '1')", 1, key))).toMatch(/NOPERM|can't access at least one of the keys/);
    expect(await api.get(key)).toBe("42");
    await writer.del(key);
  });

  test("rebuild drops keys of every group; the producer writes only its report and the metrics, which the consumers read", async () => {
    const keys = PROJECTIONS.flatMap((spec) => shardsOf(spec, config).map((shard) => `${groupPrefix(config, spec, shard)}acl-drop`));
    for (const [i, spec] of PROJECTIONS.entries()) {
      const writer = as(userOf(`consumer-${spec.role}`));
      for (const shard of shardsOf(spec, config)) await writer.set(`${groupPrefix(config, spec, shard)}acl-drop`, String(i));
    }
    const rebuild = as(userOf("rebuild"));
    expect(await rebuild.del(...keys)).toBe(keys.length);

    const producer = as(userOf("producer"));
    expect(await producer.hset(`{${PREFIX}}:producer:held`, "p1", "{}")).toBe(1);
    expect(await producer.hincrby(metricsKey(config), "producer_received_total", 1)).toBe(1);
    expect(await refusal(producer.set(keys[0] as string, "1"))).toMatch(/^NOPERM/);
    expect(await refusal(producer.eval("return 1", 0))).toMatch(/^NOPERM/);
    // Each consumer reads the producers' report (its samples of the log vouch for no stamp still on its way), and cannot write it.
    for (const spec of PROJECTIONS) {
      const consumer = as(userOf(`consumer-${spec.role}`));
      expect([spec.role, await consumer.hgetall(`{${PREFIX}}:producer:held`)]).toEqual([spec.role, { p1: "{}" }]);
      expect([spec.role, await refusal(consumer.hset(`{${PREFIX}}:producer:held`, "p2", "{}"))]).toEqual([spec.role, expect.stringMatching(/^NOPERM/)]);
    }
  });
});

describe("the local stack's view of it", () => {
  test("a TLS Redis whose default user is off answers (NOAUTH is an answer), with the CA; without it, it does not", async () => {
    expect(await pingRedis(server.url, { REDIS_CA_FILE: certs.ca })).toBe(true);
    expect(await pingRedis(server.url, { REDIS_CA_FILE: certs.ca, REDIS_USERNAME: userOf("api").name, REDIS_PASSWORD: password(userOf("api")) })).toBe(true);
    expect(await pingRedis(server.url)).toBe(false);
  });
});

describe("refused at the door", () => {
  test("a client that trusts another CA is refused: the server's certificate does not verify", async () => {
    const other = otherCertificates();
    const redis = as(userOf("api"), other.ca);
    const error = await refusal(redis.ping());
    expect(error).not.toBe("");
    const seen: string[] = [];
    redis.on("error", (err: Error) => seen.push((err as NodeJS.ErrnoException).code ?? err.message));
    await Bun.sleep(500);
    expect(seen.join(" ")).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|certificate/i);
  });

  test("a client certificate from another CA is refused by the server", async () => {
    const other = otherCertificates();
    const redis = as(userOf("api"), certs.ca, { REDIS_CERT_FILE: other.clientCert, REDIS_KEY_FILE: other.clientKey });
    expect(await refusal(redis.ping())).not.toBe("");
    // The same user with the CA's own client certificate gets in.
    const good = as(userOf("api"), certs.ca, { REDIS_CERT_FILE: certs.clientCert, REDIS_KEY_FILE: certs.clientKey });
    expect(await good.ping()).toBe("PONG");
  });

  test("without a user nothing works (the default user is off), and a wrong password is refused", async () => {
    expect(await refusal(as(undefined).get(`{${PREFIX}}:metrics`))).toMatch(/NOAUTH|WRONGPASS/);
    const wrong = loadConfig({ REDIS_URL: server.url, REDIS_CA_FILE: certs.ca, REDIS_USERNAME: userOf("api").name, REDIS_PASSWORD: "not-the-password" });
    const client = connectRedis(server.url, undefined, wrong);
    clients.push(client);
    expect(await refusal(client.ping())).toMatch(/WRONGPASS|NOAUTH/);
  });
});
