/**
 * The Swagger playground in a real browser with the network off: Debian's chromium, driven by
 * playwright-core, against the real app on Bun.serve with the run-wide real Redis. Every
 * request to a host other than this machine is aborted and recorded; the test asserts none was
 * attempted, loads /swagger, expands an operation, runs "Try it out" / "Execute", and sees the
 * 200 answer on the page. A screenshot goes to test/artifacts/ (gitignored).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { createLogger } from "../src/domain/log.ts";
import { consumerGroups } from "../src/kafka/client.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { freePort } from "../tools/infra/process.ts";
import { ARTIFACTS, launchOffline } from "./helpers/browser.ts";
import { testEnv } from "./helpers/env.ts";

const { config, kafka } = testEnv();
const redis = connectRedis(config.REDIS_URL);
const probe = new KafkaProbe(kafka.admin(), config.TOPIC, consumerGroups(config, PROJECTIONS));
const app = createApp({ config, redis, kafka: probe, projections: PROJECTIONS, log: createLogger("api-browser-test", config), fresh: { shared: false } });
const port = freePort();
let browser: Browser | undefined;

beforeAll(() => {
  app.listen({ port, hostname: "127.0.0.1" });
});

afterAll(async () => {
  await browser?.close();
  await app.stop(true);
  await probe.close();
  redis.disconnect();
});

test("Swagger UI works offline: load, expand, Try it out, Execute, 200", async () => {
  const offline = await launchOffline({ width: 1280, height: 1600 });
  browser = offline.browser;
  const { context, outside } = offline;
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));

  await page.goto(`http://127.0.0.1:${port}/swagger`, { waitUntil: "load" });
  await page.locator(".opblock").first().waitFor({ timeout: 20_000 });
  // One block per operation of the OpenAPI document: the shared routes and each projection's.
  const doc = await (await app.handle(new Request("http://localhost/swagger/json"))).json();
  const operations = Object.values(doc.paths as Record<string, object>).reduce((n, item) => n + Object.keys(item).length, 0);
  expect(operations).toBeGreaterThan(PROJECTIONS.length);
  expect(await page.locator(".opblock").count()).toBe(operations);

  // GET /transactions_count_per_minute/{min_value}: expand it, fill in the path parameter, run it.
  const operation = page.locator("#operations-counts-transactionsCountPerMinute");
  await operation.locator(".opblock-summary").click();
  await operation.getByRole("button", { name: "Try it out" }).click();
  await operation.locator('tr[data-param-name="min_value"] input').fill("0");
  await operation.getByRole("button", { name: "Execute" }).click();
  const status = operation.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 20_000 });
  expect((await status.innerText()).trim()).toBe("200");
  const body = JSON.parse(await operation.locator(".live-responses-table .response-col_description pre").first().innerText());
  expect(body.minutes).toHaveLength(60); // no data seeded: 60 empty minutes

  await page.screenshot({ path: join(ARTIFACTS, "swagger.png"), fullPage: true });
  expect(pageErrors).toEqual([]);
  expect(outside).toEqual([]);
}, 60_000); // a browser start; the preload's default timeout reaches only the first test file
