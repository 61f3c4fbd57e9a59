/**
 * Redis over TLS with the ACL users on a Redis Cluster: three masters started here with TLS on
 * their client and bus ports, the run's secure certificates (tools/testkit/secure.ts) and the ACL
 * file of tools/infra/acl.ts (plus an administrator the test uses to form the cluster), reached
 * through the roles' own factory (src/redis/connection.ts: several `rediss://` seeds make a
 * cluster client) with REDIS_CA_FILE and a role's user. The address projection is spread over
 * three shards, so its consumer's keys live on several masters.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import calculateSlot from "cluster-key-slot";
import type Redis from "ioredis";
import { loadConfig } from "../src/domain/config.ts";
import { shardsOf } from "../src/domain/projection.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { groupPrefix, metricsKey } from "../src/redis/keys.ts";
import { aclFile, type RedisRoleUser, redisRoleUsers } from "../tools/infra/acl.ts";
import { type Child, freePort, startChild, waitUntil } from "../tools/infra/process.ts";
import { redisAnswers } from "../tools/infra/redis.ts";
import { newPassword } from "../tools/infra/secure.ts";
import { secureCertificates } from "../tools/testkit/secure.ts";
import { waitFor } from "./helpers/env.ts";

setDefaultTimeout(90_000);

const PREFIX = "secc";
const config = loadConfig({ REDIS_PREFIX: PREFIX, ADDRESS_SHARDS: "3" });
const users = redisRoleUsers({ prefix: PREFIX });
const passwords = new Map(users.map((u) => [u.name, newPassword()]));
const admin = { name: "test-admin", password: newPassword() };
const root = mkdtempSync(join(tmpdir(), "btc-secure-redis-cluster-"));
const certs = secureCertificates();
const ports = [freePort(), freePort(), freePort()];
const nodes: Child[] = [];
const clients: Redis[] = [];
const url = ports.map((p) => `rediss://127.0.0.1:${p}`).join(",");
const tlsArgs = ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey, "--tls-ca-cert-file", certs.ca, "--tls-auth-clients", "optional"];

function as(user: RedisRoleUser): Redis {
  const settings = loadConfig({ REDIS_URL: url, REDIS_CA_FILE: certs.ca, REDIS_USERNAME: user.name, REDIS_PASSWORD: passwords.get(user.name) as string });
  const client = connectRedis(url, undefined, settings);
  clients.push(client);
  return client;
}
const userOf = (role: string) => users.find((u) => u.role === role) as RedisRoleUser;
const refusal = (promise: Promise<unknown>) => promise.then(() => "").catch((err: Error) => err.message);

beforeAll(async () => {
  const acl = join(root, "users.acl");
  writeFileSync(acl, `${aclFile(users, (u) => passwords.get(u.name) as string)}user ${admin.name} on >${admin.password} ~* &* +@all\n`);
  for (const port of ports) {
    const dir = join(root, String(port));
    mkdirSync(dir);
    const args = ["redis-server", "--port", "0", "--tls-port", String(port), "--tls-cluster", "yes", ...tlsArgs, "--bind", "127.0.0.1", "--dir", dir];
    nodes.push(
      startChild(`redis-${port}`, [...args, "--cluster-enabled", "yes", "--cluster-node-timeout", "5000", "--save", "", "--aclfile", acl], { logFile: join(dir, "redis.log") }),
    );
  }
  for (const [i, port] of ports.entries()) await waitUntil(`node ${port}`, () => redisAnswers(port, certs.ca), 15_000, nodes[i]);
  const create = Bun.spawnSync(
    [
      "redis-cli",
      "--tls",
      "--cacert",
      certs.ca,
      "--user",
      admin.name,
      "--pass",
      admin.password,
      "--no-auth-warning",
      "--cluster",
      "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  expect(create.exitCode).toBe(0);
  const probe = as(userOf("api"));
  await waitFor("the cluster to serve every slot", async () => String(await probe.call("CLUSTER", "INFO")).includes("cluster_state:ok"), 30_000);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(nodes.map((n) => n.stop(5_000)));
  rmSync(root, { recursive: true, force: true });
});

test("a consumer of a sharded projection writes its shards, on several masters, over TLS as its own user; not another group's keys", async () => {
  const addresses = PROJECTIONS.find((p) => p.sharded);
  expect(addresses).toBeDefined();
  const spec = addresses as (typeof PROJECTIONS)[number];
  const redis = as(userOf(`consumer-${spec.role}`));
  const keys = shardsOf(spec, config).map((shard) => `${groupPrefix(config, spec, shard)}position`);
  // The shards' tags fall in different thirds of the slots: on the three masters.
  expect(new Set(keys.map((k) => Math.floor((calculateSlot(k) * 3) / 16_384))).size).toBe(3);
  for (const key of keys) {
    expect(await redis.hset(key, "t:0", "1")).toBe(1);
    expect(await redis.eval("return redis.call('HINCRBY', KEYS[1], 't:0', 1)", 1, key)).toBe(2);
  }
  expect(await redis.hincrby(metricsKey(config), "cluster_test", 1)).toBe(1);
  const other = PROJECTIONS.find((p) => p !== spec) as (typeof PROJECTIONS)[number];
  expect(await refusal(redis.hset(`${groupPrefix(config, other)}position`, "t:0", "1"))).toMatch(/^NOPERM/);

  const api = as(userOf("api"));
  for (const key of keys) expect(await api.hget(key, "t:0")).toBe("2");
  expect(await refusal(api.hset(keys[0] as string, "t:0", "3"))).toMatch(/^NOPERM/);
});

test("FLUSHALL and CONFIG are refused on the cluster too", async () => {
  for (const user of users) {
    const redis = as(user);
    expect({ user: user.name, flush: await refusal(redis.call("FLUSHALL")), config: await refusal(redis.call("CONFIG", "GET", "maxmemory")) }).toEqual({
      user: user.name,
      flush: expect.stringMatching(/NOPERM/),
      config: expect.stringMatching(/NOPERM/),
    });
  }
});
