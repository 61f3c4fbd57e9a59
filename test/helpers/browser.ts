/**
 * A real browser with the network off, for the browser tests: Debian's Chromium driven by
 * playwright-core. Every request to a host other than this machine is aborted and recorded in
 * `outside`, so a test can assert the page needed nothing from the internet.
 *
 * Chromium missing: installed from Debian when this runs as root with apt-get (as .ci/run does),
 * else the test fails with one line saying what to install; a browser test is never skipped.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
/** Screenshots (gitignored). */
export const ARTIFACTS = join(import.meta.dir, "..", "artifacts");

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() === 0 && Bun.which("apt-get")) {
    const install = Bun.spawnSync(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"], { stdout: "ignore", stderr: "pipe" });
    if (install.exitCode === 0 && existsSync(CHROMIUM)) return;
  }
  throw new Error(`the browser tests need Chromium at ${CHROMIUM}: apt-get install chromium`);
}

const isLocal = (url: string) => {
  const { protocol, hostname } = new URL(url);
  return protocol === "data:" || protocol === "blob:" || hostname === "127.0.0.1" || hostname === "localhost";
};

export interface OfflineBrowser {
  browser: Browser;
  context: BrowserContext;
  /** Non-local URLs the pages tried to load (all aborted). */
  outside: string[];
}

export async function launchOffline(viewport: { width: number; height: number }): Promise<OfflineBrowser> {
  ensureChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const context = await browser.newContext({ viewport });
  const outside: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    outside.push(url);
    return route.abort("internetdisconnected");
  });
  return { browser, context, outside };
}
