/**
 * A namespace per test file: its own topic, consumer group prefix and Redis key prefix, on the
 * run-wide stack (test/setup.ts). `testEnv()` registers an afterAll that deletes the file's
 * topics and Redis keys, so test files can run side by side and leave nothing behind.
 */
import { afterAll, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import type Redis from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { type Config, loadConfig } from "../../src/domain/config.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { dropNamespace } from "../../tools/testkit/namespace.ts";
import { testAdminLogin, testRoleEnv } from "../../tools/testkit/stack.ts";

/**
 * The Redis variables of a role's process on the suite's Redis (or a redis-server a test starts
 * with `testStack().aclFile`): its own ACL user from the registry (tools/infra/acl.ts) and its
 * password file. `role`: `api`, `producer`, `rebuild` or `consumer-<role>`.
 */
export const roleEnv = (role: string): Record<string, string> => testRoleEnv(role);

/** The test process's own Redis user (`test-admin`) as ioredis options, for a client made with `new Redis(url, adminLogin())`. */
export const adminLogin = (): { username: string; password: string } => testAdminLogin();

export interface TestEnv {
  /** Configuration of this file's namespace (what a role started by the test would read). */
  config: Config;
  /**
   * The same as environment variables, for child processes. It names no Redis user: a role's
   * process adds its own (`roleEnv`), and one started without it is refused (NOAUTH).
   */
  env: Record<string, string>;
  kafka: Kafka;
  /** A Redis client for assertions (closed after the file). */
  redis: Redis;
}

/** Real brokers and consumer groups: a test may need to see a rebalance through. */
export const TEST_TIMEOUT_MS = 60_000;

export function testEnv(overrides: Record<string, string> = {}): TestEnv {
  // Per file: Bun 1.3 applies a preload's setDefaultTimeout to the first test file only.
  setDefaultTimeout(TEST_TIMEOUT_MS);
  const id = Math.random().toString(36).slice(2, 10);
  const env: Record<string, string> = {
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "",
    REDIS_URL: process.env.REDIS_URL ?? "",
    TOPIC: `t-${id}`,
    GROUP_PREFIX: `g-${id}-`,
    REDIS_PREFIX: `t${id}`,
    LOG_LEVEL: "warn",
    // Not the test process's own user (process.env, tools/testkit/stack.ts): a child names its role's.
    REDIS_USERNAME: "",
    REDIS_PASSWORD: "",
    REDIS_PASSWORD_FILE: "",
    ...overrides,
  };
  const config = loadConfig(env);
  const kafka = new Kafka({ clientId: `test-${id}`, brokers: config.KAFKA_BROKERS.split(","), logLevel: logLevel.NOTHING });
  // The roles' own connection policy: a command that gets no answer fails, and a connection that
  // stops answering is replaced, so no assertion waits for ever.
  const redis = connectRedis(config.REDIS_URL);
  afterAll(async () => {
    await dropNamespace(kafka, redis, config);
    redis.disconnect();
  });
  return { config, env, kafka, redis };
}

/**
 * How long one check may go unanswered. Two clean-clone runs hung a test for good inside one
 * check (a Kafka admin or Redis call that never settled); now such a check counts as a failed
 * attempt, is named on stderr, and the next attempt (a new admin, a replaced Redis connection)
 * goes on until the deadline.
 */
export const CHECK_TIMEOUT_MS = 15_000;

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = Math.max(100, Math.min(CHECK_TIMEOUT_MS, deadline - Date.now()));
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`one check got no answer within ${limit} ms`)), limit);
    });
    try {
      const value = await Promise.race([Promise.resolve().then(check), hung]);
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
      if (String(err).includes("got no answer")) console.error(`waitFor: ${what}: ${err}; trying again`);
    } finally {
      clearTimeout(timer);
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Runs a cleanup step, giving up with a line on stderr after `ms`: one hung step must not hang the run. */
export async function bounded(what: string, work: () => Promise<unknown> | unknown, ms = 20_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((done) => {
    timer = setTimeout(() => {
      console.error(`cleanup: ${what} took over ${ms} ms; moving on`);
      done();
    }, ms);
  });
  try {
    await Promise.race([
      Promise.resolve()
        .then(work)
        .catch((err) => console.error(`cleanup: ${what} failed: ${err}`)),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether the process `pid` is gone (or a zombie waiting to be reaped), by the kernel's process
 * table. In long full runs Bun twice did not report a child's exit for 30 s (its `exitCode` stayed
 * null, `exited` did not resolve) though the process had ended: tests that wait for an exit ask
 * the kernel too.
 */
export function processGone(pid: number): boolean {
  try {
    return /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}
