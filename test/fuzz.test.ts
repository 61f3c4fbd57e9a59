/**
 * Fuzzing the two doors of the pipeline, against the run-wide real Kafka and Redis:
 *
 * 1. The feed: over 10,000 malformed or hostile frames from the simulator (`malformed`, every
 *    kind of tools/sim/malformed.ts: random JSON, wrong types, missing fields, huge arrays, ~1 MB
 *    frames, bytes that are not UTF-8, ...) mixed with valid transactions, into the real
 *    producer. Every bad frame must be in the dead-letter topic with a reason, every valid
 *    transaction in the topic exactly once, and the producer never loses its feed.
 * 2. The API: a few hundred hostile HTTP requests (bad parameters, long paths, odd headers and
 *    methods, percent-encoding junk, path traversal, malformed HTTP over raw TCP) to the API
 *    listening for real. Never a 5xx, every error of the API a JSON `{error, message}`, and it
 *    still answers afterwards.
 */
import { afterAll, afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { connect as netConnect } from "node:net";
import type { IHeaders } from "kafkajs";
import { createApp } from "../src/api/app.ts";
import { KafkaProbe } from "../src/api/health/kafka.ts";
import { SPEC_PATH } from "../src/api/swagger/plugin.ts";
import { loadConfig } from "../src/domain/config.ts";
import { createLogger } from "../src/domain/log.ts";
import { readFeedMessage } from "../src/feed/utx.ts";
import { consumerGroups, dlqTopic } from "../src/kafka/client.ts";
import { type Producer, startProducer } from "../src/producer/producer.ts";
import { MAX_RECORD_BYTES } from "../src/producer/publisher.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { freePort } from "../tools/infra/process.ts";
import type { Frame } from "../tools/sim/frames.ts";
import { MALFORMED_KINDS } from "../tools/sim/malformed.ts";
import { startSimulator } from "../tools/sim/server.ts";
import { bounded, testEnv, waitFor } from "./helpers/env.ts";
import { readTopic } from "./helpers/kafka.ts";

// Per file: in Bun 1.3.14 the preload's default timeout reaches only the first file of a run.
setDefaultTimeout(60_000);

const env = testEnv();

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await bounded("fuzz cleanup", stop, 15_000);
});

/** The figures of the summary line, filled by the tests that pass. */
const summary = { frames: 0, kinds: 0, deadLettered: 0, valid: 0, http: 0, http5xx: 0 };
let passed = 0;
afterAll(() => {
  if (passed < 2) return;
  console.log(
    `fuzz: ${summary.frames} feed frames fuzzed (${summary.kinds} kinds), ${summary.deadLettered} dead-lettered with a reason, ` +
      `${summary.valid} valid transactions published exactly once, 0 lost; ${summary.http} hostile HTTP requests, ${summary.http5xx} answered 5xx`,
  );
});

// ---------------------------------------------------------------------------------------------
// 1. The feed

/** Valid transactions in the stream; with `malformed` 0.6, about 1.5 bad frames come with each. */
const VALID = 7_000;
const MALFORMED_SHARE = 0.6;
const SEED = 20_261_121;

interface Letter {
  value: Buffer;
  headers: IHeaders;
}

const bytesOf = (text: string | Uint8Array) => (typeof text === "string" ? Buffer.from(text) : Buffer.from(text.buffer, text.byteOffset, text.byteLength));
/** What the dead letter of a frame of these bytes holds: the bytes (the first MAX_RECORD_BYTES, and the full size, when larger). */
const letterId = (bytes: Uint8Array, rawBytes: string | undefined) => `${Bun.hash(bytes.subarray(0, MAX_RECORD_BYTES))}/${rawBytes ?? ""}`;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

test("feed fuzz: every malformed frame is dead-lettered with a reason, every valid transaction published exactly once", async () => {
  const { config, kafka } = env;
  const valid: string[] = [];
  const expectedLetters: string[] = [];
  const kinds = new Map<string, number>();
  /** Frames the generator got wrong: one the producer's reader would not refuse, or "not UTF-8" that is. */
  const notBad: string[] = [];
  const onDelivered = (frame: Frame) => {
    if (frame.hash) return void valid.push(frame.hash);
    const kind = frame.kind ?? "?";
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    const bytes = bytesOf(frame.text);
    expectedLetters.push(letterId(bytes, bytes.length > MAX_RECORD_BYTES ? String(bytes.length) : undefined));
    const read = readFeedMessage(typeof frame.text === "string" ? frame.text : bytes, Date.now());
    if (read.kind !== "invalid") notBad.push(`${kind}: read as ${read.kind}: ${bytes.subarray(0, 200).toString()}`);
    if (kind === "invalid UTF-8") {
      try {
        STRICT_UTF8.decode(bytes);
        notBad.push(`invalid UTF-8 that is UTF-8: ${bytes.subarray(0, 200).toString()}`);
      } catch {}
    }
  };
  const sim = await startSimulator({ port: 0, rate: 0, count: VALID, seed: SEED, malformed: MALFORMED_SHARE }, undefined, onDelivered);
  cleanup.push(() => sim.stop());

  const producerConfig = loadConfig({ ...env.env, FEED_URL: sim.url, LOG_LEVEL: "error" });
  const producer: Producer = startProducer({
    config: producerConfig,
    log: createLogger("producer", producerConfig),
    // Pings keep the connection known alive; nothing here should make it look dead.
    feedTiming: { pingEveryMs: 1_000, deadAfterMs: 60_000, backoffMinMs: 10, backoffMaxMs: 200 },
    publisherTiming: { lingerMs: 5, retryMinMs: 50, retryMaxMs: 500 },
  });
  cleanup.push(() => producer.stop());
  const metric = (name: string) => producer.metrics.snapshot()[name] ?? 0;

  await sim.finished;
  const malformed = expectedLetters.length;
  expect(notBad).toEqual([]);
  expect(malformed).toBeGreaterThanOrEqual(10_000);
  expect(valid.length).toBe(VALID);
  expect([...kinds.keys()].sort()).toEqual([...MALFORMED_KINDS].sort()); // every kind was sent

  // The producer read every frame delivered, and Kafka acknowledged every transaction.
  await waitFor("every frame read by the producer", () => metric("producer_received_total") === malformed + VALID, 60_000);
  await waitFor("every valid transaction acknowledged", () => metric("producer_published_total") === VALID, 60_000);
  expect(metric("producer_invalid_total")).toBe(malformed);
  expect(metric("producer_dropped_total")).toBe(0);
  expect(metric("producer_reconnects_total")).toBe(0); // no frame broke the connection

  // Every bad frame is a dead letter, with its bytes and a reason; none is a valid transaction.
  const letters: Letter[] = await readTopic(kafka, dlqTopic(config), malformed);
  const reasons = new Set<string>();
  const gotLetters: string[] = [];
  for (const { value, headers } of letters) {
    const reason = headers.reason?.toString() ?? "";
    expect(reason.length).toBeGreaterThan(0);
    expect(headers.source?.toString()).toBe("feed");
    reasons.add(reason.replace(/\d+/g, "N"));
    const rawBytes = headers.raw_bytes?.toString();
    gotLetters.push(letterId(value, rawBytes));
    // Not a valid transaction (a cut one is only the start of what arrived, which may be valid).
    if (rawBytes === undefined) expect(readFeedMessage(value, Date.now()).kind).toBe("invalid");
    else expect(Number(rawBytes)).toBeGreaterThan(value.length);
  }
  expect(gotLetters.sort()).toEqual(expectedLetters.sort());
  expect(reasons.size).toBeGreaterThan(10); // specific reasons, not one catch-all

  // Every valid transaction delivered is on the topic exactly once, under its hash.
  const records = await readTopic(kafka, config.TOPIC, VALID);
  const keys = records.map((r) => r.key).sort();
  expect(new Set(keys).size).toBe(VALID);
  expect(keys).toEqual([...valid].sort());

  Object.assign(summary, { frames: malformed + VALID, kinds: kinds.size, deadLettered: letters.length, valid: keys.length });
  passed++;
});

// ---------------------------------------------------------------------------------------------
// 2. The API

interface Answer {
  what: string;
  status: number;
  contentType: string;
  body: string;
  /** Answered by Bun's HTTP parser before the app saw the request (malformed HTTP), not by the API. */
  protocol: boolean;
}

/** A host:port pair, as connection strings and driver messages carry them: never in an error body. */
const HOST_PORT = /\b\d{1,3}(\.\d{1,3}){3}:\d+\b|localhost:\d+/;

/** Statuses Bun's HTTP layer answers malformed requests with, before the app sees them. */
const PROTOCOL_STATUSES = new Set([400, 413, 414, 431]);

/** True once `text` holds a whole answer: its head, and a body of its Content-Length (or none). */
function complete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end === -1) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
  if (length !== undefined) return text.length - end - 4 >= Number(length);
  return !/\r\ntransfer-encoding: *chunked/i.test(text.slice(0, end)) || text.endsWith("\r\n0\r\n\r\n");
}

/** A raw request over TCP: whatever bytes, read until a whole answer came, the server closes, or `ms` pass. */
function raw(port: number, bytes: string | Uint8Array, ms: number): Promise<string> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    const socket = netConnect(port, "127.0.0.1");
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      done(Buffer.concat(chunks).toString("latin1"));
    };
    const timer = setTimeout(finish, ms);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (complete(Buffer.concat(chunks).toString("latin1"))) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
    socket.on("connect", () => socket.write(bytes));
  });
}

/** The status line, content type and body of a raw HTTP/1.1 answer (the first one, if several). */
function parseRaw(what: string, text: string): Answer | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
  if (!m) return undefined;
  const end = text.indexOf("\r\n\r\n");
  const head = text.slice(0, end);
  const contentType = /\r\ncontent-type: *([^\r\n]*)/i.exec(head)?.[1] ?? "";
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
  let body = text.slice(end + 4);
  if (length !== undefined) body = body.slice(0, Number(length));
  else if (/\r\ntransfer-encoding: *chunked/i.test(head)) body = body.replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n/gi, "").replace(/\r\n$/, "");
  return { what, status: Number(m[1]), contentType, body, protocol: false };
}

const BAD_VALUES = [
  "-1",
  "0",
  "-0",
  "1.5",
  "99999999999999999999999999",
  "1e309",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  "0b1",
  " 5",
  "5 ",
  "+5",
  "１２", // full-width digits
  "٣", // Arabic-Indic three
  "😀",
  "é",
  "'; DROP TABLE transactions; --",
  "1 OR 1=1",
  '" OR ""="',
  "1;SELECT pg_sleep(10)",
  "<script>alert(1)</script>",
  "${7*7}",
  "{{7*7}}",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  "",
  "a".repeat(5_000),
  "9".repeat(2_000),
];
/** Percent-encoding junk, used as written (not encoded again). */
const RAW_VALUES = ["%00", "%ZZ", "%", "%2", "%E2%82", "%C0%AF", "%FF%FE", "%u0041", "%25%32%35", "1%00", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2f"];

/** The requests sent with fetch: [method, path, init]. */
function fetchRequests(): [string, string, RequestInit?][] {
  const out: [string, string, RequestInit?][] = [];
  const values = [...BAD_VALUES.map(encodeURIComponent), ...RAW_VALUES];
  for (const v of values) {
    out.push(["GET", `/transactions_count_per_minute/${v}`]);
    out.push(["GET", `/show_transactions/?limit=${v}`]);
    out.push(["GET", `/high_value_addr?limit=${v}`]);
    out.push(["GET", `/high_value_addr?side=${v}`]);
    out.push(["GET", `/transactions/${v}`]);
    out.push(["GET", `/transactions_count_per_minute/0?format=${v}`]);
  }
  // Repeated, bracketed and odd query parameters.
  for (const q of [
    "limit=1&limit=2",
    "limit[]=1",
    "limit[a]=1",
    "limit[0]=5&limit[1]=6",
    "side=received&side=sent",
    "side[]=received",
    "format=json&format=text",
    "__proto__[limit]=1",
    "constructor[prototype][x]=1",
    "limit=1&&&",
    "=",
    "&",
    "%ZZ=1",
    "limit=%ZZ",
    "limit",
    `x=${"y".repeat(10_000)}`,
  ]) {
    for (const path of ["/show_transactions/", "/high_value_addr", "/transactions_count_per_minute/0", "/transactions_count_per_hour", "/metrics"])
      out.push(["GET", `${path}?${q}`]);
  }
  // Long paths.
  for (const n of [1_024, 8_192, 65_536]) {
    out.push(["GET", `/${"a".repeat(n)}`]);
    out.push(["GET", `/transactions/${"f".repeat(n)}`]);
    out.push(["GET", `/transactions_count_per_minute/${"1".repeat(n)}`]);
    out.push(["GET", `/dashboard/${"x".repeat(n)}`]);
    out.push(["GET", `/show_transactions/?limit=${"9".repeat(n)}`]);
  }
  out.push(["GET", `/${"a/".repeat(4_000)}`]);
  // Path traversal and odd paths.
  for (const p of [
    "/dashboard/..%2f..%2f..%2fpackage.json",
    "/dashboard/%2e%2e%2f%2e%2e%2fapp.ts",
    "/dashboard/..%5c..%5cpackage.json",
    "/dashboard/%252e%252e%252fpackage.json",
    "/dashboard/....//....//package.json",
    "/swagger/assets/..%2f..%2f..%2fpackage.json",
    "/swagger/assets/%2e%2e%2fpackage.json",
    "/swagger/assets/swagger-ui.css%00.js",
    "/dashboard/app.js%00",
    "/%2e%2e/%2e%2e/etc/passwd",
    "//etc/passwd",
    "/./health/../show_transactions/",
    "/show_transactions/%2F..",
    "/transactions/%2F",
    "/%00",
    "/health%00",
    "/;/health",
    "/health;jsessionid=1",
    "/HEALTH",
    "/show_transactions//",
    "/transactions_count_per_minute//",
    "/transactions_count_per_minute/0/extra",
    "/transactions/",
    "/stream/x",
  ])
    out.push(["GET", p]);
  // Odd headers.
  const headerCases: Record<string, string>[] = [
    { "x-junk": "v".repeat(8_000) },
    { "x-junk": "v".repeat(15_000) },
    { "x-junk": "v".repeat(70_000) },
    Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, "1"])),
    { accept: "*/*;q=abc" },
    { accept: "text/plain;q=0, application/json;q=2" },
    { accept: "application/xml" },
    { accept: "text/plain" },
    { accept: "text/plain".repeat(1_000) },
    { accept: "" },
    { accept: "\u00e9/\u00e9" },
    { "content-type": "multipart/form-data" },
    { "content-type": "application/json; charset=klingon" },
    { "content-type": "x/x/x/x" },
    { "accept-encoding": "gzip;q=x, br;q=-1, *;q=2" },
    { range: "bytes=999999999-" },
    { range: "bytes=-1,-2,-3,0-" },
    { "if-none-match": '"\u00e9"' },
    { "if-modified-since": "yesterday" },
    { origin: "null" },
    { origin: "http://evil.example".repeat(200) },
    { cookie: "a=".repeat(2_000) },
    { authorization: "Bearer ' OR 1=1 --" },
    { "x-forwarded-for": "127.0.0.1, ::1, <script>" },
    { connection: "upgrade", upgrade: "websocket" },
    { expect: "100-continue" },
  ];
  for (const headers of headerCases) {
    for (const path of ["/show_transactions/", "/transactions_count_per_minute/0", "/high_value_addr", "/dashboard/app.js"]) out.push(["GET", path, { headers }]);
  }
  // Methods the API does not serve, with and without bodies.
  const routes = [
    "/",
    "/show_transactions/",
    `/transactions/${"0".repeat(64)}`,
    "/transactions_count_per_minute/0",
    "/transactions_count_per_hour",
    "/high_value_addr",
    "/health",
    "/metrics",
    "/stream",
    "/swagger",
    "/dashboard/app.js",
    "/nope",
  ];
  const bodies: [string, string | ArrayBuffer][] = [
    ["application/json", '{"limit":'],
    ["application/json", JSON.stringify({ __proto__: { admin: true }, limit: -1 })],
    ["application/x-www-form-urlencoded", "limit=%ZZ&limit=1"],
    ["multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--y--'],
    ["text/plain", "x".repeat(1 << 20)],
    ["application/octet-stream", new Uint8Array([0xff, 0xfe, 0x00, 0x80]).buffer],
  ];
  for (const path of routes) {
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const [type, body] = bodies[(path.length + method.length) % bodies.length] as [string, string | ArrayBuffer];
      out.push([method, path, { body, headers: { "content-type": type } }]);
    }
    out.push(["OPTIONS", path]);
    out.push(["OPTIONS", path, { headers: { origin: "http://x.example", "access-control-request-method": "DELETE", "access-control-request-headers": "x-evil" } }]);
    if (path !== "/stream") out.push(["HEAD", path]);
  }
  return out;
}

/**
 * Raw requests whose request line is not `METHOD target HTTP/1.x<CRLF>` (no version, another
 * version, a space or NUL in the target, bare LF line ends): Bun's HTTP parser answers them 505
 * HTTP Version Not Supported itself, before any application code runs.
 */
const BAD_REQUEST_LINES = new Set(["no version", "HTTP/9.9", "HTTP/0.9", "space in path", "NUL in path", "LF only"]);

/** Raw requests over TCP: malformed HTTP, and what fetch refuses to send. */
function rawRequests(): [string, string | Uint8Array][] {
  const close = "Host: x\r\nConnection: close\r\n";
  return [
    ["garbage", "GARBAGE\r\n\r\n"],
    ["binary", new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])], // a TLS hello
    ["no version", "GET /health\r\n\r\n"],
    ["HTTP/9.9", `GET /health HTTP/9.9\r\n${close}\r\n`],
    ["HTTP/0.9", "GET /health\r\n"],
    ["lowercase method", `get /health HTTP/1.1\r\n${close}\r\n`],
    ["unknown method", `BREW /health HTTP/1.1\r\n${close}\r\n`],
    ["TRACE", `TRACE /health HTTP/1.1\r\n${close}\r\n`],
    ["CONNECT", `CONNECT 127.0.0.1:22 HTTP/1.1\r\n${close}\r\n`],
    ["absolute URL", `GET http://elsewhere.example/health HTTP/1.1\r\n${close}\r\n`],
    ["asterisk", `OPTIONS * HTTP/1.1\r\n${close}\r\n`],
    ["no slash", `GET health HTTP/1.1\r\n${close}\r\n`],
    ["space in path", `GET /show transactions/ HTTP/1.1\r\n${close}\r\n`],
    ["NUL in path", `GET /health\u0000 HTTP/1.1\r\n${close}\r\n`],
    ["raw non-ASCII path", new Uint8Array([...Buffer.from("GET /transactions/"), 0xff, 0xc0, ...Buffer.from(` HTTP/1.1\r\n${close}\r\n`)])],
    ["no Host", "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"],
    ["two Hosts", `GET /health HTTP/1.1\r\nHost: a\r\n${close}\r\n`],
    ["header without colon", `GET /health HTTP/1.1\r\n${close}NoColonHere\r\n\r\n`],
    ["space before colon", `GET /health HTTP/1.1\r\n${close}X-A : 1\r\n\r\n`],
    ["folded header", `GET /health HTTP/1.1\r\n${close}X-A: 1\r\n  continued\r\n\r\n`],
    ["control char in header", `GET /health HTTP/1.1\r\n${close}X-A: a\u0001b\r\n\r\n`],
    ["LF only", "GET /health HTTP/1.1\nHost: x\nConnection: close\n\n"],
    ["body on GET", `GET /show_transactions/ HTTP/1.1\r\n${close}Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{"limit":`],
    ["negative Content-Length", `POST /show_transactions/ HTTP/1.1\r\n${close}Content-Length: -1\r\n\r\n`],
    ["huge Content-Length", `POST /show_transactions/ HTTP/1.1\r\n${close}Content-Length: 99999999999999999999\r\n\r\nx`],
    ["two Content-Lengths", `POST /show_transactions/ HTTP/1.1\r\n${close}Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx`],
    ["CL and chunked", `POST /show_transactions/ HTTP/1.1\r\n${close}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ["bad chunk size", `POST /show_transactions/ HTTP/1.1\r\n${close}Transfer-Encoding: chunked\r\n\r\nZZ\r\nx\r\n0\r\n\r\n`],
    ["unknown encoding", `POST /show_transactions/ HTTP/1.1\r\n${close}Transfer-Encoding: gzip, klingon\r\n\r\n`],
    ["smuggled request", `GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n`],
    ["huge header", `GET /health HTTP/1.1\r\n${close}X-A: ${"v".repeat(100_000)}\r\n\r\n`],
    ["1000 headers", `GET /health HTTP/1.1\r\n${close}${"X-A: 1\r\n".repeat(1_000)}\r\n`],
    ["huge request line", `GET /${"a".repeat(200_000)} HTTP/1.1\r\n${close}\r\n`],
    ["percent junk", `GET /transactions_count_per_minute/%ZZ%00%ff HTTP/1.1\r\n${close}\r\n`],
    ["traversal", `GET /dashboard/../../../../etc/passwd HTTP/1.1\r\n${close}\r\n`],
    ["traversal, backslashes", `GET /dashboard/..\\..\\..\\package.json HTTP/1.1\r\n${close}\r\n`],
    ["only a request line, then silence", "GET /health HTTP/1.1\r\n"],
  ];
}

test("hostile HTTP: no 5xx, every API error a JSON {error, message}, and the API still answers", async () => {
  const { config, kafka } = env;
  const redis = connectRedis(config.REDIS_URL);
  cleanup.push(() => redis.disconnect());
  // No consumer groups watched (changed by design, issue 12 item 4): no consumer runs here, and a
  // group without a member makes /health a 503 of its own; this test is about hostile requests.
  const probe = new KafkaProbe(kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } }), config.TOPIC, []);
  cleanup.push(() => probe.close());
  const port = freePort();
  const app = createApp({ config, redis, kafka: probe, projections: PROJECTIONS, log: createLogger("api", { ...config, LOG_LEVEL: "error" }), fresh: { shared: false } }).listen({
    port,
    hostname: "127.0.0.1",
  });
  cleanup.push(() => app.stop(true));
  const base = `http://127.0.0.1:${port}`;

  const answers: Answer[] = [];
  const failures: string[] = [];
  const requests = fetchRequests();
  // A few at a time: hostile, not a load test.
  for (let i = 0; i < requests.length; i += 8) {
    await Promise.all(
      requests.slice(i, i + 8).map(async ([method, path, init]) => {
        const what = `${method} ${path.length > 100 ? `${path.slice(0, 100)}... (${path.length} chars)` : path}`;
        try {
          const res = await fetch(`${base}${path}`, { method, redirect: "manual", ...init });
          const body = await res.text();
          const contentType = res.headers.get("content-type") ?? "";
          answers.push({ what, status: res.status, contentType, body, protocol: PROTOCOL_STATUSES.has(res.status) && !contentType.includes("json") && body === "" });
        } catch (err) {
          failures.push(`${what}: no answer: ${err}`);
        }
      }),
    );
  }
  const versions: Answer[] = [];
  for (const [what, bytes] of rawRequests()) {
    const text = await raw(port, bytes, what === "only a request line, then silence" ? 1_000 : 3_000);
    const answer = parseRaw(`raw ${what}`, text);
    // Bun may close a connection it cannot parse, or wait for the rest of a request, without a word.
    if (!answer) continue;
    answer.protocol = PROTOCOL_STATUSES.has(answer.status) && !answer.contentType.includes("json");
    (BAD_REQUEST_LINES.has(what) ? versions : answers).push(answer);
  }
  // Those are Bun's parser's own empty 505s (see BAD_REQUEST_LINES); nothing else may be a 5xx.
  for (const a of versions) expect([a.what, a.status, a.body]).toEqual([a.what, 505, ""]);

  const fiveXX = answers.filter((a) => a.status >= 500);
  expect(fiveXX.map((a) => `${a.what}: ${a.status} ${a.body.slice(0, 200)}`)).toEqual([]);
  expect(failures).toEqual([]);
  const badErrors: string[] = [];
  for (const a of answers) {
    if (a.status < 400 || a.protocol || a.what.startsWith("HEAD ")) continue;
    let body: unknown;
    try {
      body = JSON.parse(a.body);
    } catch {}
    const ok =
      a.contentType.startsWith("application/json") &&
      body !== null &&
      typeof body === "object" &&
      Object.keys(body).join() === "error,message" &&
      typeof (body as { error: unknown }).error === "string" &&
      typeof (body as { message: unknown }).message === "string" &&
      !(body as { message: string }).message.includes("    at ") &&
      !HOST_PORT.test(a.body);
    if (!ok) badErrors.push(`${a.what}: ${a.status} ${a.contentType} ${a.body.slice(0, 200)}`);
  }
  expect(badErrors).toEqual([]);
  // Nothing outside the served files leaked through a traversal.
  const leaks = answers.filter((a) => a.body.includes('"name": "btc-stream"') || a.body.includes("root:x:0:0") || a.body.includes("startProducer"));
  expect(leaks.map((a) => a.what)).toEqual([]);
  expect(answers.filter((a) => a.status >= 400 && a.status < 500).length).toBeGreaterThan(300); // it did refuse things

  // Still up, and still right.
  const after = await fetch(`${base}/show_transactions/?limit=5`);
  expect(after.status).toBe(200);
  expect(await after.json()).toMatchObject({ transactions: [] });
  const minutes = await fetch(`${base}/transactions_count_per_minute/0`);
  expect(minutes.status).toBe(200);
  expect(((await minutes.json()) as { minutes: unknown[] }).minutes.length).toBe(60);
  for (const [path, type] of [
    ["/dashboard/app.js", "text/javascript"],
    ["/swagger/assets/swagger-ui.css", "text/css"],
  ]) {
    const asset = await fetch(`${base}${path}`, { headers: { range: "bytes=0-3" } }); // a Range is ignored: the whole file
    expect([asset.status, asset.headers.get("content-type")?.split(";")[0]]).toEqual([200, type]);
    expect((await asset.text()).length).toBeGreaterThan(4);
  }
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
  expect(((await health.json()) as { status: string }).status).toBe("ok");

  // The requests held to "never a 5xx": all but the request lines Bun's parser answers itself.
  Object.assign(summary, { http: requests.length + rawRequests().length - BAD_REQUEST_LINES.size, http5xx: fiveXX.length });
  passed++;
});

test("Redis unreachable: every answer is a JSON 503 (or the route's own answer) and no body names a host:port", async () => {
  const { config, kafka } = env;
  const redis = connectRedis(`redis://127.0.0.1:${freePort()}`); // nothing listens there
  cleanup.push(() => redis.disconnect());
  const probe = new KafkaProbe(kafka.admin({ retry: { retries: 0 } }), config.TOPIC, consumerGroups(config, PROJECTIONS));
  cleanup.push(() => probe.close());
  const port = freePort();
  const app = createApp({ config, redis, kafka: probe, projections: PROJECTIONS, log: createLogger("api", { ...config, LOG_LEVEL: "error" }), fresh: { shared: false } }).listen({
    port,
    hostname: "127.0.0.1",
  });
  cleanup.push(() => app.stop(true));
  const paths = [
    "/show_transactions/",
    "/show_transactions/?limit=1000",
    "/transactions_count_per_minute/0",
    "/transactions_count_per_minute/0?format=text",
    "/transactions_count_per_hour",
    "/high_value_addr?side=sent",
    `/transactions/${"0".repeat(64)}`,
    "/health",
    "/metrics",
    "/nope",
    ...fetchRequests()
      .filter(([method, path]) => method === "GET" && path.length < 2_000)
      .slice(0, 120)
      .map(([, path]) => path),
  ];
  const leaks: string[] = [];
  const unavailable: number[] = [];
  for (const path of paths) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    const body = await res.text();
    if (HOST_PORT.test(body)) leaks.push(`${path}: ${res.status} ${body.slice(0, 200)}`);
    if (res.status === 503) unavailable.push(503);
    if (res.status >= 500) expect([path, res.status]).toEqual([path, 503]);
  }
  expect(unavailable.length).toBeGreaterThanOrEqual(8); // the data routes and /health did answer 503
  // Every route of every projection of the registry too, as the OpenAPI document lists them under
  // the projection's tag (a path parameter as "0"): 503, or the route's own 4xx for the parameter.
  const openapi = (await (await fetch(`http://127.0.0.1:${port}${SPEC_PATH}`)).json()) as { paths: Record<string, Record<string, { tags?: string[] }>> };
  for (const projection of PROJECTIONS) {
    const routes = Object.entries(openapi.paths)
      .filter(([, operations]) => operations.get?.tags?.includes(projection.api.tag.name))
      .map(([path]) => path.replace(/\{[^}]+\}/g, "0"));
    expect({ role: projection.role, routes: routes.length > 0 }).toEqual({ role: projection.role, routes: true });
    for (const path of routes) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      const body = await res.text();
      if (HOST_PORT.test(body)) leaks.push(`${path}: ${res.status} ${body.slice(0, 200)}`);
      expect({ path, answer: res.status === 503 || (res.status >= 400 && res.status < 500 && (res.headers.get("content-type") ?? "").startsWith("application/json")) }).toEqual({
        path,
        answer: true,
      });
    }
  }
  expect(leaks).toEqual([]);
});
