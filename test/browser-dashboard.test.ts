/**
 * The dashboard at / in a real browser with the network off: Debian's chromium, driven by
 * playwright-core, against the real app on Bun.serve with the run-wide real Redis, seeded through
 * the consumer groups' own scripts (tools/testkit/fill.ts). Every request to a host other than
 * this machine is aborted and recorded; the test asserts none was attempted, that the chart is
 * drawn, that the tables show what the JSON endpoints answer, and that a transaction seeded
 * after the page loaded appears through /stream, and that it shows "catching up" with the records
 * left while the counts projection replays and marks its figures incomplete, the others not
 * (the groups' partitions planted by hand, test/helpers/coverage.ts). Screenshots (wide and 390 px) go to
 * test/artifacts/ (gitignored).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { createLogger } from "../src/domain/log.ts";
import { SCHEMA_VERSION, type Transaction } from "../src/domain/transaction.ts";
import { consumerGroups } from "../src/kafka/client.ts";
import type { Projection } from "../src/projections/projection.ts";
import { PROJECTIONS, projectionOf } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { freePort } from "../tools/infra/process.ts";
import { fill } from "../tools/testkit/fill.ts";
import { ARTIFACTS, launchOffline } from "./helpers/browser.ts";
import { level, plant } from "./helpers/coverage.ts";
import { testEnv, waitFor } from "./helpers/env.ts";

const { config, kafka, redis: seedRedis } = testEnv();
const redis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, consumerGroups(config, PROJECTIONS));
const app = createApp({ config, redis, kafka: probe, projections: PROJECTIONS, log: createLogger("dashboard-browser-test", config), cacheMs: 0 });
/** The projection that replays here: the per-minute chart's. */
const counts = projectionOf("counts") as Projection;
const port = freePort();
const base = `http://127.0.0.1:${port}`;
let browser: Browser | undefined;

const ADDRESSES = [
  "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
  "35wEodJ1x64uUy3PkenD1gT3tnrHhQSNTG",
  "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
  "3AL3peHJm1FpFAQ1Hp9rFBmt2cbp1deXHX",
  "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
];
let serial = 0;
function tx(time: number, value: number): Transaction {
  const n = serial++;
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`dash-${n}`).digest("hex"),
    time,
    size: 180 + n,
    weight: 4 * (180 + n),
    inputs: [{ address: ADDRESSES[(n + 2) % ADDRESSES.length] as string, value: value + 250 }],
    outputs: [{ address: ADDRESSES[n % ADDRESSES.length] as string, value }],
    value,
    fee: 250,
    received_at: time * 1000,
  };
}
/** What every consumer group would write for `txs`, on Redis's clock. */
async function seed(txs: Transaction[]) {
  await fill(seedRedis, config, txs);
}

beforeAll(async () => {
  // An hour of history: a few transactions in most minutes, values from 0.0001 to 60 BTC.
  const nowSec = Math.floor(Date.now() / 1000);
  const history: Transaction[] = [];
  for (let i = 1; i <= 62; i++) for (let k = 0; k < ((i * 7) % 5) + 1; k++) history.push(tx(nowSec - i * 60 + k * 9, 10_000 * ((i * 13 + k * 31) % 97) ** 2 + 12_345));
  await seed(history);
  // The counts projection replays, 250 records left on each of 3 partitions; every other one is
  // level with the log through the next two minutes (longer than the test).
  await plant(
    seedRedis,
    config,
    counts,
    [0, 1, 2].map(() => ({ position: 0, from: 0, until: 250, coversFromMs: 0, throughMs: 0 })),
  );
  for (const p of PROJECTIONS) if (p !== counts) await plant(seedRedis, config, p, level(Date.now() + 120_000));
  app.listen({ port, hostname: "127.0.0.1" });
});

afterAll(async () => {
  await browser?.close();
  await app.stop(true);
  await probe.close();
  redis.disconnect();
});

const api = async (path: string) => (await fetch(`${base}${path}`)).json();
const rows = (page: Page, table: string, attr: string) =>
  page.$$eval(
    `#${table} tbody tr`,
    (trs, a) => trs.map((tr) => [tr.getAttribute(a), tr.querySelector("[data-sat]")?.getAttribute("data-sat"), tr.querySelector("[data-sat]")?.getAttribute("title")]),
    attr,
  );

test("dashboard: chart, tables as the API answers, a live transaction, offline", async () => {
  const offline = await launchOffline({ width: 1280, height: 1100 });
  browser = offline.browser;
  const { context, outside } = offline;
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));

  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.locator("body[data-ready]").waitFor({ timeout: 20_000 });
  await page.locator("#live-dot.live").waitFor({ timeout: 20_000 }); // /stream said hello

  // The chart: uPlot's canvas, 61 points (60 complete minutes and the current one).
  expect(await page.locator("#chart .uplot canvas").count()).toBe(1);
  const perMinute = await api("/transactions_count_per_minute/0");
  const hourCount = perMinute.minutes.reduce((s: number, m: { count: number }) => s + m.count, 0);
  expect(hourCount).toBeGreaterThan(0);
  expect(await page.locator("#hour-count").innerText()).toBe(hourCount.toLocaleString("en-US"));

  // Top addresses (received, then sent): the API's addresses and satoshi, in its order.
  const addressesOf = async (side: string) =>
    (await api(`/high_value_addr?side=${side}&limit=10`)).addresses.map((a: { address: string; total_value: number }) => [
      a.address,
      String(a.total_value),
      `${a.total_value.toLocaleString("en-US")} sat`,
    ]);
  expect(await rows(page, "addresses", "data-address")).toEqual(await addressesOf("received"));

  // The live update: a transaction seeded now appears at the top, through /stream.
  const nowSec = Math.floor(Date.now() / 1000);
  const fresh = tx(nowSec, 123_456_789);
  await seed([fresh]);
  await page.locator(`#transactions tbody tr[data-hash="${fresh.hash}"]`).waitFor({ timeout: 20_000 });
  const seq = Number(await page.locator("body").getAttribute("data-seq"));
  expect(seq).toBeGreaterThan(0);
  const latest = (await api("/show_transactions/?limit=25")).transactions.map((t: { hash: string; value: number }) => [
    t.hash,
    String(t.value),
    `${t.value.toLocaleString("en-US")} sat`,
  ]);
  expect(latest[0][0]).toBe(fresh.hash);
  expect(await rows(page, "transactions", "data-hash")).toEqual(latest);
  const top = page.locator(`#transactions tbody tr[data-hash="${fresh.hash}"]`);
  expect(await top.locator("td.value").innerText()).toBe("1.2346"); // BTC, 4 decimals from 1 BTC
  expect(await top.locator("a").innerText()).toBe(`${fresh.hash.slice(0, 8)}…${fresh.hash.slice(-8)}`);
  expect(await top.locator("button.copy").count()).toBe(1);
  // The addresses refresh after transactions arrive: again what the API answers.
  await waitFor(
    "the addresses table to follow the API",
    async () => JSON.stringify(await rows(page, "addresses", "data-address")) === JSON.stringify(await addressesOf("received")),
  );

  await page.locator('.switch button[data-side="sent"]').click();
  await page.locator('#addresses[data-side="sent"]').waitFor({ timeout: 10_000 });
  expect(await rows(page, "addresses", "data-address")).toEqual(await addressesOf("sent"));

  // Pipeline health from /health.
  const health = await api("/health");
  expect(await page.locator("#health-status").innerText()).toBe(health.status);
  expect(await page.locator("#lag tbody tr").count()).toBe(health.kafka.groups.length);

  // Catching up, with the records left; the figures it feeds marked incomplete, the others not.
  expect(health.projections).toEqual(
    PROJECTIONS.map((p) => (p === counts ? { role: p.role, state: "catching_up", records_to_replay: 750 } : { role: p.role, state: "current", records_to_replay: 0 })),
  );
  expect(await page.locator("#catching-up").innerText()).toBe("catching up: 750 records left");
  expect(perMinute).toMatchObject({ complete: false, incomplete_reason: "replaying" });
  expect(await page.locator("#counts-flag").isVisible()).toBe(true);
  expect(await page.locator("#counts-flag").innerText()).toBe("incomplete: replaying the log");
  expect((await api("/high_value_addr?side=sent")).complete).toBe(true);
  expect(await page.locator("#addr-flag").isVisible()).toBe(false);
  expect((await api("/show_transactions/?limit=25")).complete).toBe(true);
  expect(await page.locator("#tx-flag").isVisible()).toBe(false);

  await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await waitFor("the chart to fit the narrow window", () => page.$eval("#chart .uplot", (u) => u.getBoundingClientRect().width <= 390));
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390); // no sideways scrolling
  await page.screenshot({ path: join(ARTIFACTS, "dashboard-narrow.png"), fullPage: true });

  expect(pageErrors).toEqual([]);
  expect(outside).toEqual([]);
}, 60_000);
