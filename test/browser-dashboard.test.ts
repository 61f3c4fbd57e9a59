/**
 * The dashboard at / in a real browser with the network off: Debian's chromium, driven by
 * playwright-core, against the real app on Bun.serve with the run-wide real Redis, seeded through
 * the consumer groups' own scripts (tools/testkit/fill.ts). Every request to a host other than
 * this machine is aborted and recorded; the test asserts none was attempted, that the chart is
 * drawn, that the tables show what the JSON endpoints answer, and that a transaction seeded
 * after the page loaded appears through /stream, and that it shows "catching up" with the records
 * left while the counts projection replays and marks its figures incomplete, the others not
 * (the groups' partitions planted by hand, test/helpers/coverage.ts). The fee chart: drawn from
 * GET /fee_rates_per_minute, its median and p10/p90 of the last complete minute and the hour's
 * average as an independent computation from the seeded transactions gives them (mempool.space's
 * bands and the percentile rule, written here), and its flag once the fee projection replays.
 * The age of each panel's figures, on a page whose clock the test drives (Playwright's clock):
 * the panels the stream keeps live marked stale while it is down, the age moving on with the
 * clock without a read, and a panel whose reads fail marked stale with why, then fresh again.
 * Screenshots (wide and 390 px) go to test/artifacts/ (gitignored).
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
const app = createApp({ config, redis, kafka: probe, projections: PROJECTIONS, log: createLogger("dashboard-browser-test", config), fresh: { shared: false } });
/** The projection that replays here: the per-minute chart's. */
const counts = projectionOf("counts") as Projection;
/** The fee chart's projection: level with the log, then replaying in the last test. */
const fees = projectionOf("fees") as Projection;
const port = freePort();
const base = `http://127.0.0.1:${port}`;
let browser: Browser | undefined;
/** The last test's, whose page runs on a clock the test drives. */
let clockedBrowser: Browser | undefined;

const ADDRESSES = [
  "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
  "35wEodJ1x64uUy3PkenD1gT3tnrHhQSNTG",
  "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
  "3AL3peHJm1FpFAQ1Hp9rFBmt2cbp1deXHX",
  "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
];
let serial = 0;
/** A transaction of `vsize` 180 + n vbytes paying `rate` sat/vB (rounded to the satoshi), or 250 sat. */
function tx(time: number, value: number, rate?: number): Transaction {
  const n = serial++;
  const fee = rate === undefined ? 250 : Math.round(rate * (180 + n));
  return {
    v: SCHEMA_VERSION,
    hash: createHash("sha256").update(`dash-${n}`).digest("hex"),
    time,
    size: 180 + n,
    weight: 4 * (180 + n),
    inputs: [{ address: ADDRESSES[(n + 2) % ADDRESSES.length] as string, value: value + fee }],
    outputs: [{ address: ADDRESSES[n % ADDRESSES.length] as string, value }],
    value,
    fee,
    received_at: time * 1000,
  };
}
/** Every transaction seeded, for the independent fee figures. */
const seeded: Transaction[] = [];
/** What every consumer group would write for `txs`, on Redis's clock. */
async function seed(txs: Transaction[]) {
  seeded.push(...txs);
  await fill(seedRedis, config, txs);
}

// ---- the fee figures, computed here (not with the projection's code) ----------------------------
/** mempool.space's fee bands, lower bounds in sat/vB; the last is "2000 and above". */
const BANDS = [
  1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200, 250, 300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
];
const vbytesOf = (t: Transaction) => (t.weight == null ? t.size : Math.ceil(t.weight / 4));
/** The seeded transactions with a known fee whose event time is in [fromSec, toSec). */
const feesIn = (fromSec: number, toSec: number) => seeded.filter((t) => t.fee !== null && t.time >= fromSec && t.time < toSec);
/** The band of a transaction: the highest lower bound its rate (sat/kvB, rounded down) reaches; below 1 sat/vB, band 1. */
function bandOf(t: Transaction): number {
  const kvb = Math.floor(((t.fee as number) * 1000) / vbytesOf(t));
  return BANDS.filter((lower) => kvb >= lower * 1000).at(-1) ?? 1;
}
/** Percentile p: the lower bound of the band where the cumulative count, lowest first, reaches ceil(p × count / 100), at least 1. */
function percentileOf(txs: Transaction[], p: number): number | null {
  if (txs.length === 0) return null;
  const bands = txs.map(bandOf).sort((a, b) => a - b);
  return bands[Math.max(1, Math.ceil((p * txs.length) / 100)) - 1] as number;
}
/** A rate as the page writes it: 2 decimals below 10 sat/vB, 1 below 100, none from 100; "–" when there is none. */
const shown = (v: number | null) => (v === null ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: v < 10 ? 2 : v < 100 ? 1 : 0 }));
/**
 * What a transaction of minute i ago (its k-th) pays, sat/vB: a level drifting between 1 and 7
 * over the hour, spread ×0.4 to ×15 within the minute; the minute 20 ago pays 2500 and more (an
 * outlier, in the top band), and one transaction 33 minutes ago pays nothing.
 */
const rateOf = (i: number, k: number) => (i === 20 ? 2500 + 300 * k : i === 33 && k === 0 ? 0 : (4 + 3 * Math.sin(i / 6)) * ([1, 0.4, 2.5, 6, 15][k] as number));

beforeAll(async () => {
  // An hour of history: a few transactions in most minutes, values from 0.0001 to 60 BTC.
  const nowSec = Math.floor(Date.now() / 1000);
  const history: Transaction[] = [];
  for (let i = 1; i <= 62; i++)
    for (let k = 0; k < ((i * 7) % 5) + 1; k++) history.push(tx(nowSec - i * 60 + k * 9, 10_000 * ((i * 13 + k * 31) % 97) ** 2 + 12_345, rateOf(i, k)));
  await seed(history);
  // The counts projection replays, 250 records left on each of 3 partitions; every other one is
  // level with the log through the next two minutes (longer than the first test).
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
  await clockedBrowser?.close();
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

/** The page of the first test, which the last one goes on watching. */
let page: Page;
let outside: string[] = [];
const pageErrors: string[] = [];

test("dashboard: chart, tables as the API answers, a live transaction, offline", async () => {
  const offline = await launchOffline({ width: 1280, height: 1100 });
  browser = offline.browser;
  outside = offline.outside;
  page = await offline.context.newPage();
  page.on("pageerror", (err) => pageErrors.push(err.message));

  const nowSecAtStart = Math.floor(Date.now() / 1000);
  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.locator("body[data-ready]").waitFor({ timeout: 20_000 });
  await page.locator("#live-dot.live").waitFor({ timeout: 20_000 }); // /stream said hello

  // The chart: uPlot's canvas, 61 points (60 complete minutes and the current one).
  expect(await page.locator("#chart .uplot canvas").count()).toBe(1);
  const perMinute = await api("/transactions_count_per_minute/0");
  const hourCount = perMinute.minutes.reduce((s: number, m: { count: number }) => s + m.count, 0);
  expect(hourCount).toBeGreaterThan(0);
  expect(await page.locator("#hour-count").innerText()).toBe(hourCount.toLocaleString("en-US"));

  // The fee chart beside it: uPlot's canvas; the last complete minute's median and the hour's
  // average rate in the head, as computed here from the seeded transactions of those minutes.
  expect(await page.locator("#fee-chart .uplot canvas").count()).toBe(1);
  const head = () =>
    page.evaluate(() => ({
      start: document.getElementById("fee-last")?.dataset.start ?? "",
      last: document.getElementById("fee-last")?.textContent,
      label: document.getElementById("fee-last-label")?.textContent,
      avg: document.getElementById("fee-avg")?.textContent,
    }));
  // What the chart draws for that minute: hovering it (the 60th of the 61 minutes shown, at
  // 59/60 of the plot's width) shows its p90, median and p10 in the legend. Read again if the
  // page took the next minute meanwhile (it reads the fees just after each minute ends).
  const hover = async () => {
    const over = await page.locator("#fee-chart .u-over").boundingBox();
    if (!over) throw new Error("no plot area in the fee chart");
    await page.mouse.move(over.x + (over.width * 59) / 60, over.y + over.height / 2);
    const legend = await page.$$eval("#fee-chart .u-legend .u-series", (trs) =>
      trs.map((tr) => [tr.querySelector(".u-label")?.textContent, tr.querySelector(".u-value")?.textContent]),
    );
    await page.mouse.move(0, 0);
    return legend;
  };
  const { feeHead, legend } = await waitFor("the fee card to hold one minute while it is read", async () => {
    const before = await head();
    const shownLegend = await hover();
    const after = await head();
    return JSON.stringify(before) === JSON.stringify(after) && { feeHead: before, legend: shownLegend };
  });
  const lastSec = Date.parse(feeHead.start) / 1000;
  expect(Number.isFinite(lastSec)).toBe(true);
  expect(lastSec).toBeGreaterThanOrEqual(Math.floor(nowSecAtStart / 60) * 60 - 60); // the minute before the page loaded, or a later one
  const lastMinute = feesIn(lastSec, lastSec + 60);
  expect(lastMinute.length).toBeGreaterThan(0);
  const median = percentileOf(lastMinute, 50);
  expect(feeHead.last).toBe(shown(median));
  expect(feeHead.label).toBe(`median, ${feeHead.start.slice(11, 16)}`);
  const hour = feesIn(lastSec - 59 * 60, lastSec + 60);
  const hourFee = hour.reduce((s, t) => s + (t.fee as number), 0);
  const hourVbytes = hour.reduce((s, t) => s + vbytesOf(t), 0);
  expect(feeHead.avg).toBe(shown(hourFee / hourVbytes));
  expect(legend).toEqual([
    ["minute (UTC)", feeHead.start.slice(11, 16)],
    ["p90", shown(percentileOf(lastMinute, 90))],
    ["median", shown(median)],
    ["p10", shown(percentileOf(lastMinute, 10))],
  ]);
  // The seed spans the scale: an outlier minute in the top band, and the lowest band.
  const feeAnswer = await api("/fee_rates_per_minute");
  expect(Math.max(...feeAnswer.minutes.map((m: { p90: number | null }) => m.p90 ?? 0))).toBe(2000);
  expect(Math.min(...feeAnswer.minutes.map((m: { p10: number | null }) => m.p10 ?? Infinity))).toBe(1);

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
  expect((await api("/fee_rates_per_minute")).complete).toBe(true);
  expect(await page.locator("#fees-flag").isVisible()).toBe(false);

  await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await waitFor("the charts to fit the narrow window", async () => {
    const widths = await page.$$eval("#chart .uplot, #fee-chart .uplot", (us) => us.map((u) => u.getBoundingClientRect().width));
    return widths.length === 2 && widths.every((w) => w <= 390);
  });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390); // no sideways scrolling
  await page.screenshot({ path: join(ARTIFACTS, "dashboard-narrow.png"), fullPage: true });

  expect(pageErrors).toEqual([]);
  expect(outside).toEqual([]);
}, 60_000);

test("dashboard: the fee chart marked incomplete once the fee projection replays, on the next check", async () => {
  expect(await page.locator("#fees-flag").isVisible()).toBe(false);
  // The fee projection replays too: 100 records left on each of 3 partitions.
  await plant(
    seedRedis,
    config,
    fees,
    [0, 1, 2].map(() => ({ position: 0, from: 0, until: 100, coversFromMs: 0, throughMs: 0 })),
  );
  const answer = await api("/fee_rates_per_minute");
  expect(answer).toMatchObject({ complete: false, incomplete_reason: "replaying" });
  const open = answer.minutes.filter((m: { complete: boolean }) => m.complete === false).length;
  expect(open).toBeGreaterThan(0);
  // The page asks for the flags again every 10 s: the fee card's mark shows, with why and how many minutes.
  await page.locator("#fees-flag").waitFor({ state: "visible", timeout: 20_000 });
  expect(await page.locator("#fees-flag").innerText()).toBe("incomplete: replaying the log");
  expect(await page.locator("#fees-flag").getAttribute("title")).toBe(`${open} of ${answer.minutes.length} minutes may miss transactions`);
  // The others as they were: the counts still replaying, the addresses and transactions final.
  expect(await page.locator("#counts-flag").isVisible()).toBe(true);
  expect(await page.locator("#addr-flag").isVisible()).toBe(false);
  expect(await page.locator("#tx-flag").isVisible()).toBe(false);
  await waitFor("the header to count the fee projection's records too", async () => (await page.locator("#catching-up").innerText()) === "catching up: 1,050 records left");

  await page.setViewportSize({ width: 1280, height: 1100 });
  await page.screenshot({ path: join(ARTIFACTS, "dashboard-fees-incomplete.png"), fullPage: true });
  expect(pageErrors).toEqual([]);
  expect(outside).toEqual([]);
}, 60_000);

// ---- how old each panel's figures are ------------------------------------------------------------
/** Each panel's age line and its card. */
const AGES: [string, string][] = [
  ["counts-age", "chart-card"],
  ["fees-age", "fee-card"],
  ["addresses-age", "addresses-card"],
  ["health-age", "health-card"],
  ["tx-age", "tx-card"],
];
interface Age {
  id: string;
  text: string;
  /** When the panel received what it shows (ms on the page's clock). */
  at: string;
  stale: boolean;
}
const agesOf = (p: Page): Promise<Age[]> =>
  p.evaluate(
    (ids) =>
      ids.map(([id, card]) => {
        const e = document.getElementById(id) as HTMLElement;
        return {
          id,
          text: e.textContent ?? "",
          at: e.dataset.at ?? "",
          stale: e.classList.contains("stale") && document.getElementById(card)?.classList.contains("stale") === true,
        };
      }),
    AGES,
  );
/** The seconds an age line says: "updated just now" 0, "updated 12 s ago" 12; null for any other text. */
function secondsOf(text: string): number | null {
  const m = /^(?:stale: )?updated (?:just now|(\d+) s ago)/.exec(text);
  return m ? Number(m[1] ?? 0) : null;
}

test("dashboard: each panel says how old its figures are, ticking on its own; stale with why while its stream is down or its reads fail", async () => {
  const clocked = await launchOffline({ width: 1280, height: 1100 });
  clockedBrowser = clocked.browser;
  const p = await clocked.context.newPage();
  const errors: string[] = [];
  p.on("pageerror", (err) => errors.push(err.message));
  // The page's Date and timers on Playwright's clock: it runs on its own until paused.
  await p.clock.install();
  // First without its stream (each attempt fails, as when the API is away): the panels the stream
  // keeps live are stale at once, saying so; the others are read and fresh. Once the stream
  // answers (EventSource tries again by itself), they are fresh too.
  await p.route("**/stream", (route) => route.abort("connectionreset"));
  await p.goto(`${base}/`, { waitUntil: "load" });
  await p.locator("body[data-ready]").waitFor({ timeout: 20_000 });
  await p.locator("#live-dot.down").waitFor({ timeout: 20_000 });
  const down = await waitFor("the panels to have their figures, the stream down", async () => {
    const ages = await agesOf(p);
    return ages.every((a) => a.at !== "") && ages;
  });
  for (const a of down) {
    const live = a.id === "counts-age" || a.id === "tx-age";
    expect([a.id, a.stale]).toEqual([a.id, live]);
    expect(a.text).toMatch(live ? /^stale: updated (just now|\d+ s ago) · stream reconnecting$/ : /^updated (just now|\d+ s ago)$/);
  }
  await p.unroute("**/stream");
  await p.locator("#live-dot.live").waitFor({ timeout: 20_000 });
  await waitFor("every panel to say how old its figures are", async () => (await agesOf(p)).every((a) => secondsOf(a.text) !== null && !a.stale && a.at !== ""));

  // Paused: time moves only as the test drives it. Two seconds on, each line says a later age
  // than before, with nothing read meanwhile (the same `at`). A read that answered in between
  // (every 10 s on the page's clock) restarts its age: then look again.
  await p.clock.pauseAt(Date.now() + 1_000);
  await waitFor("each age to move on with the clock, nothing read meanwhile", async () => {
    const before = await agesOf(p);
    await p.clock.runFor(2_000);
    const after = await agesOf(p);
    return after.every((a, i) => {
      const b = before[i] as Age;
      return a.at === b.at && (secondsOf(a.text) as number) > (secondsOf(b.text) as number) && !a.stale;
    });
  });

  // The fee endpoint fails (as when Redis does not answer): past three of its 10 s reads, the fee
  // card is marked stale, saying why; the others, read meanwhile, are fresh.
  await p.route("**/fee_rates_per_minute", (route) =>
    route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error: "unavailable", message: "Redis did not answer within 1 s" }) }),
  );
  await p.clock.runFor(41_000);
  const failing = await waitFor("the fee card to be stale, with why", async () => {
    const fees = (await agesOf(p))[1] as Age;
    return fees.stale && fees.text.includes("fetch failed") && fees;
  });
  expect(failing.text).toMatch(/^stale: updated \d+ s ago · fetch failed: 503 unavailable$/);
  expect(secondsOf(failing.text)).toBeGreaterThan(30);
  expect(await p.locator("#fee-card").getAttribute("class")).toContain("stale");
  await waitFor("the other panels, read meanwhile, to be fresh", async () =>
    (await agesOf(p)).filter((a) => a.id !== "fees-age").every((a) => !a.stale && (secondsOf(a.text) as number) < 30),
  );
  await p.screenshot({ path: join(ARTIFACTS, "dashboard-stale.png"), fullPage: true });

  // It answers again: on the next read, fresh.
  await p.unroute("**/fee_rates_per_minute");
  await p.clock.runFor(10_000);
  await waitFor("the fee card to be fresh again", async () => {
    const fees = (await agesOf(p))[1] as Age;
    return !fees.stale && secondsOf(fees.text) !== null && !fees.text.includes("failed");
  });
  expect(await p.locator("#fee-card").getAttribute("class")).not.toContain("stale");

  expect(errors).toEqual([]);
  expect(clocked.outside).toEqual([]);
}, 60_000);
