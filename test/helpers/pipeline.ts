/**
 * The whole pipeline for end-to-end tests: the feed simulator in this process (so the test sees
 * every frame it delivers), the producer and the consumers as real processes started from their
 * entry points (so a test can SIGKILL them), and the API in this process (`createApp`, called
 * through `app.handle`) with its clock pinned one minute ahead, so the minute being fed counts as
 * complete.
 *
 * `settle()` pauses the feed, waits until the API's figures equal the independent computation
 * (./expected.ts) over every frame delivered and every group has committed the end of the topic,
 * then checks once more: a figure that moved after that would fail the test.
 */
import { expect } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Kafka } from "kafkajs";
import { createApp } from "../../src/api/app.ts";
import { KafkaProbe } from "../../src/api/health/kafka.ts";
import { type Config, loadConfig } from "../../src/domain/config.ts";
import { createLogger } from "../../src/domain/log.ts";
import type { GroupRole } from "../../src/domain/projection.ts";
import { consumerGroups } from "../../src/kafka/client.ts";
import { PROJECTIONS, ROLES } from "../../src/projections/registry.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { type Child, startChild } from "../../tools/infra/process.ts";
import type { Frame } from "../../tools/sim/frames.ts";
import type { SimOptions } from "../../tools/sim/options.ts";
import { type Simulator, startSimulator } from "../../tools/sim/server.ts";
import { bounded, roleEnv, waitFor } from "./env.ts";
import { type Expected, expectedFrom, top } from "./expected.ts";
import { caughtUp } from "./kafka.ts";

/** The producer, or a consumer group's role (`bun run consumer <role>`) as `consumer-<role>`. */
export type Role = "producer" | `consumer-${GroupRole}`;

const ROOT = join(import.meta.dir, "..", "..");
const ARTIFACTS = join(ROOT, "test", "artifacts");

/** The entry point and arguments of a role. */
const entryOf = (role: Role): string[] =>
  role === "producer" ? [join(ROOT, "src", "roles", "producer.ts")] : [join(ROOT, "src", "roles", "consumer.ts"), role.slice("consumer-".length)];

export interface PipelineEnv {
  config: Config;
  env: Record<string, string>;
  kafka: Kafka;
}

/** What the API serves, reduced to what the independent computation gives. */
export interface Served {
  minutes: Map<number, { count: number; value: number }>;
  received: { address: string; total_value: number }[];
  sent: { address: string; total_value: number }[];
  latest: Expected["latest"];
}

/** The Redis variables of a role's own user (`api`, `producer`, `consumer-<role>`), or null where Redis has no ACL users. */
export type RoleUsers = ((role: string) => Record<string, string>) | null;

export class Pipeline {
  readonly frames: string[] = [];
  /** Malformed frames delivered (they carry no hash). */
  malformed = 0;
  /** `x.time` of the newest transaction frame delivered (unix seconds). */
  private newest = 0;
  sim: Simulator | undefined;
  private readonly children: Child[] = [];
  private readonly apiRedis;
  private readonly app;
  private serial = 0;

  constructor(
    readonly env: PipelineEnv,
    /** Names the role logs: test/artifacts/<tag>-<role>-<n>.log. */
    private readonly tag: string,
    /**
     * Each role's Redis user, added to its variables (the API's for the in-process API): by
     * default the suite's users (`roleEnv`); null for a Redis without them (the plain cluster).
     */
    private readonly users: RoleUsers = roleEnv,
  ) {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The role logs of the previous run of this test go (startChild appends).
    for (const f of readdirSync(ARTIFACTS)) if (f.startsWith(`${tag}-`) && f.endsWith(".log")) rmSync(join(ARTIFACTS, f));
    const { config, kafka } = env;
    // The API's own user, what the API role logs in as (a read it may not do fails the test); none without users.
    this.apiRedis = connectRedis(config.REDIS_URL, undefined, loadConfig({ ...env.env, ...users?.("api") }));
    const probe = new KafkaProbe(kafka.admin(), config.TOPIC, []);
    const log = createLogger("api", { ...config, LOG_LEVEL: "error" });
    this.app = createApp({ config, redis: this.apiRedis, kafka: probe, projections: PROJECTIONS, log, now: () => this.clock(), fresh: { shared: false } });
  }

  /** Starts (or replaces) the feed simulator; every frame it delivers is recorded. */
  async feed(options: Partial<SimOptions>): Promise<Simulator> {
    await this.sim?.stop();
    const record = (frame: Frame) => {
      if (!frame.hash) return void this.malformed++;
      const text = String(frame.text);
      this.frames.push(text);
      this.newest = Math.max(this.newest, JSON.parse(text).x.time);
    };
    this.sim = await startSimulator({ port: 0, ...options }, undefined, record);
    return this.sim;
  }

  /** Starts a role from its entry point as its own Redis user, pointed at this pipeline's namespace and feed (`bunArgs` go before the entry point, e.g. a --preload). */
  spawn(role: Role, extra: Record<string, string> = {}, bunArgs: string[] = []): Child {
    const n = ++this.serial;
    const child = startChild(`${role}-${n}`, [process.execPath, ...bunArgs, ...entryOf(role)], {
      cwd: ROOT,
      logFile: join(ARTIFACTS, `${this.tag}-${role}-${n}.log`),
      env: { ...this.env.env, ...this.users?.(role), LOG_LEVEL: "info", ...(this.sim ? { FEED_URL: this.sim.url } : {}), ...extra },
    });
    this.children.push(child);
    return child;
  }

  /** A running process of `role` (the earliest started still alive). */
  role(role: Role): Child | undefined {
    return this.children.find((c) => c.name.startsWith(`${role}-`) && c.proc.exitCode === null && c.proc.signalCode === null);
  }

  /** The producer and every group of the registry, each as many processes as its spec says. */
  spawnAll(): void {
    this.spawn("producer");
    for (const { role, processes } of PROJECTIONS) for (let i = 0; i < processes; i++) this.spawn(`consumer-${role}`);
  }

  /** One minute after the newest frame's minute: that minute is the last complete one. */
  clock(): number {
    const newest = this.newest || Date.now() / 1000;
    return (Math.floor(newest / 60) * 60 + 61) * 1000;
  }

  async get<T>(path: string): Promise<{ status: number; body: T }> {
    const res = await this.app.handle(new Request(`http://localhost${path}`));
    return { status: res.status, body: (await res.json()) as T };
  }

  async served(limit = 100): Promise<Served> {
    const counts = await this.get<{ minutes: { start: string; count: number; value: number }[] }>("/transactions_count_per_minute/0");
    const received = await this.get<{ addresses: Served["received"] }>(`/high_value_addr?side=received&limit=${limit}`);
    const sent = await this.get<{ addresses: Served["sent"] }>(`/high_value_addr?side=sent&limit=${limit}`);
    const latest = await this.get<{ transactions: (Expected["latest"][number] & { size: number })[] }>(`/show_transactions/?limit=${limit}`);
    for (const r of [counts, received, sent, latest]) if (r.status !== 200) throw new Error(`the API answered ${r.status}: ${JSON.stringify(r.body)}`);
    const minutes = new Map<number, { count: number; value: number }>();
    for (const m of counts.body.minutes) if (m.count) minutes.set(Date.parse(m.start) / 1000, { count: m.count, value: m.value });
    return {
      minutes,
      received: received.body.addresses,
      sent: sent.body.addresses,
      latest: latest.body.transactions.map(({ hash, time, value, fee, inputs, outputs }) => ({ hash, time, value, fee, inputs, outputs })),
    };
  }

  /** What the API must serve for the frames delivered so far. */
  expected(limit = 100): { expected: Expected; served: Served } {
    const e = expectedFrom(this.frames);
    // Every minute fed must be inside the hour the counts endpoint shows, or the test proves less than it says.
    const lastComplete = this.clock() / 1000 - 61;
    for (const minute of e.minutes.keys()) expect(minute).toBeGreaterThan(lastComplete - 60 * 60);
    return { expected: e, served: { minutes: e.minutes, received: top(e.received, limit), sent: top(e.sent, limit), latest: e.latest.slice(0, limit) } };
  }

  /** The groups' members and committed offsets, and which role processes are alive: printed when settling fails. */
  async diagnose(): Promise<string> {
    const admin = this.env.kafka.admin();
    await admin.connect();
    try {
      const end = await admin.fetchTopicOffsets(this.env.config.TOPIC);
      const lines = [`topic end ${JSON.stringify(end.map((p) => [p.partition, p.high]))}`];
      const { groups } = await admin.describeGroups(consumerGroups(this.env.config, PROJECTIONS).map((g) => g.group));
      for (const g of groups) {
        const [offsets] = await admin.fetchOffsets({ groupId: g.groupId, topics: [this.env.config.TOPIC] });
        lines.push(
          `${g.groupId}: ${g.state}, ${g.members.length} members (${g.members.map((m) => m.clientId).join(", ")}), committed ${JSON.stringify(offsets?.partitions.map((p) => [p.partition, p.offset]))}`,
        );
      }
      // CPU time over one second tells a busy-looping process from one waiting for ever.
      const cpu = (pid: number) => {
        try {
          const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
          return Number(f[11]) + Number(f[12]);
        } catch {
          return Number.NaN;
        }
      };
      const before = this.children.map((c) => cpu(c.proc.pid));
      await Bun.sleep(1_000);
      const state = (c: Child, i: number) => c.proc.exitCode ?? c.proc.signalCode ?? `running, ${cpu(c.proc.pid) - (before[i] ?? 0)} ticks of CPU in 1 s`;
      lines.push(`processes: ${this.children.map((c, i) => `${c.name} pid ${c.proc.pid} ${state(c, i)}`).join("; ")}`);
      return lines.join("\n  ");
    } finally {
      await admin.disconnect();
    }
  }

  /** Every group has committed the end of every partition. */
  drained(): Promise<boolean> {
    return caughtUp(
      this.env.kafka,
      this.env.config.TOPIC,
      consumerGroups(this.env.config, PROJECTIONS).map((g) => g.group),
    );
  }

  /**
   * Pauses the feed and waits until the API serves exactly the independent computation and the
   * groups are drained; returns the transactions lost and counted twice (both must be 0).
   */
  async settle(timeoutMs = 120_000): Promise<{ transactions: number; lost: number; twice: number }> {
    // Nothing delivered yet (the producer not connected) would compare trivially equal.
    if (this.sim) await waitFor("a first frame delivered", () => this.frames.length > 0, timeoutMs);
    this.sim?.pause();
    try {
      return await this.compare(timeoutMs);
    } finally {
      this.sim?.resume();
    }
  }

  private async compare(timeoutMs: number): Promise<{ transactions: number; lost: number; twice: number }> {
    const want = this.expected();
    await waitFor(
      `the API to serve the figures of ${want.expected.count} transactions`,
      async () => Bun.deepEquals(await this.served(), want.served) && (await this.drained()),
      timeoutMs,
    ).catch(async () => console.error(`settle: ${await Promise.race([this.diagnose(), Bun.sleep(15_000).then(() => "(the diagnosis got no answer within 15 s)")])}`)); // the assertions below say what differs
    const served = await this.served();
    let lost = 0;
    let twice = 0;
    for (const [minute, e] of want.expected.minutes) {
      const got = served.minutes.get(minute)?.count ?? 0;
      if (got < e.count) lost += e.count - got;
      else twice += got - e.count;
    }
    for (const [minute, s] of served.minutes) if (!want.expected.minutes.has(minute)) twice += s.count;
    expect({ lost, twice }).toEqual({ lost: 0, twice: 0 });
    expect(served).toEqual(want.served);
    return { transactions: want.expected.count, lost, twice };
  }

  /** Stops every role process (each finishes its batch and commits); the feed and the API stay. */
  async stopRoles(): Promise<void> {
    await Promise.all(this.children.map((c) => bounded(`stopping ${c.name}`, () => c.stop(10_000))));
  }

  async stop(): Promise<void> {
    this.sim?.pause();
    await Promise.all(this.children.map((c) => bounded(`stopping ${c.name}`, () => c.stop(10_000))));
    await bounded("stopping the simulator", () => this.sim?.stop(), 5_000);
    this.apiRedis.disconnect();
  }
}

export { ROLES };
