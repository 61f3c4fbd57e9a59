/**
 * /health tells the truth (issue 12, item 4), with the whole pipeline running as processes: 200
 * while every group has a member and moves; the addresses consumer SIGSTOPped, /health turns 503
 * naming its group (no member once its session times out, or stalled: lag and a position that
 * does not move); SIGCONT, and it is 200 again.
 */
import { afterAll, expect, test } from "bun:test";
import { apiContext, createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import type { ApiProjection } from "../src/api/projection.ts";
import { redisStore } from "../src/api/store-redis.ts";
import { createLogger } from "../src/domain/log.ts";
import { consumerGroups, groupId } from "../src/kafka/client.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { bounded, testEnv, waitFor } from "./helpers/env.ts";
import { Pipeline } from "./helpers/pipeline.ts";
import { askedRoutes as askedRoutesOf } from "./helpers/routes.ts";

const pipelineEnv = testEnv();
const { config, kafka } = pipelineEnv;
const p = new Pipeline(pipelineEnv, "health");
const redis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } }), config.TOPIC, consumerGroups(config, PROJECTIONS));
const app = createApp({ config, redis, kafka: probe, projections: PROJECTIONS, log: createLogger("api", { ...config, LOG_LEVEL: "error" }), fresh: { shared: false } });
afterAll(async () => {
  await bounded("stopping the pipeline", () => p.stop(), 30_000);
  await probe.close();
  redis.disconnect();
});

interface Body {
  status: string;
  reasons: string[];
  groups: { role: string; group: string; state: string; members: number | null; partitions: { partition: number; state: string }[] }[];
}
const health = async () => {
  const res = await app.handle(new Request("http://localhost/health"));
  return { status: res.status, body: (await res.json()) as Body };
};

/** The GET routes a projection's API part mounts, as a client asks them. */
const askedRoutes = (p: ApiProjection) =>
  askedRoutesOf(
    app,
    p,
    apiContext({ config, redis, fresh: { shared: false } }, redisStore(redis, config, PROJECTIONS), () => config.TOPIC_PARTITIONS),
  );

test("a SIGSTOPped consumer makes /health 503 naming its group; SIGCONT makes it 200 again", async () => {
  await p.feed({ rate: 50, seed: 12 });
  p.spawnAll();
  const healthy = async () => {
    const h = await health();
    return h.status === 200 ? h : undefined;
  };
  const first = await waitFor("a healthy pipeline", healthy, 90_000).catch(async (err) => {
    throw new Error(`${err}; /health: ${JSON.stringify((await health()).body.reasons)}`);
  });
  for (const g of first.body.groups) {
    expect(["ok", "catching_up"]).toContain(g.state); // a group replaying at start is healthy while it moves
    // Each partition of the topic, judged on its own.
    expect(g.partitions.map((x) => x.partition)).toEqual([0, 1, 2]);
    for (const x of g.partitions) expect(["ok", "catching_up"]).toContain(x.state);
  }

  // Steady state, the consumers recording each partition's coverage: every data answer (each projection's routes) says complete.
  const routes = new Map(await Promise.all(PROJECTIONS.map(async (q) => [q.role, await askedRoutes(q)] as const)));
  const paths = [...routes.values()].flat();
  for (const q of PROJECTIONS) expect([q.role, routes.get(q.role)?.length ?? 0]).not.toEqual([q.role, 0]);
  const flags = async () =>
    Promise.all(
      paths.map(async (path) => {
        const res = await app.handle(new Request(`http://localhost${path}`));
        const body = (await res.json()) as { complete: boolean; incomplete_reason?: string };
        expect(res.headers.get("x-complete")).toBe(String(body.complete));
        return `${path} ${body.complete} ${body.incomplete_reason ?? ""}`.trim();
      }),
    );
  await waitFor("every data answer complete", async () => (await flags()).every((f) => f.endsWith(" true")), 60_000).catch(async (err) => {
    throw new Error(`${err}: ${(await flags()).join("; ")}`);
  });

  const stopped = projectionOf("addresses") as Projection;
  const addresses = p.role(`consumer-${stopped.role}`);
  expect(addresses).toBeDefined();
  const pid = addresses?.proc.pid as number;
  const group = groupId(config, stopped);
  process.kill(pid, "SIGSTOP");
  let resumed = false;
  try {
    const down = await waitFor(
      "a 503 naming the addresses group",
      async () => {
        const h = await health();
        return h.status === 503 && h.body.reasons.some((r) => r.startsWith(`group ${group} (${stopped.role}): `)) ? h : undefined;
      },
      60_000,
    );
    const state = down.body.groups.find((g) => g.role === stopped.role)?.state;
    expect(["no_member", "stalled"]).toContain(state as string);
    expect(down.body.reasons.filter((r) => !r.startsWith(`group ${group} `))).toEqual([]); // the others are fine
    console.log(`health: addresses consumer stopped → 503: ${down.body.reasons.join("; ")}`);
    // Its projection is no longer applied through now: the window's answers say so.
    const answers = await flags();
    for (const path of routes.get(stopped.role) ?? []) expect(answers).toContain(`${path} false behind`);
    process.kill(pid, "SIGCONT");
    resumed = true;
    const again = await waitFor("a healthy /health after SIGCONT", healthy, 90_000);
    expect(again.body.reasons).toEqual([]);
    await waitFor("every data answer complete again", async () => (await flags()).every((f) => f.endsWith(" true")), 30_000);
  } finally {
    if (!resumed) process.kill(pid, "SIGCONT");
  }
}, 240_000);
