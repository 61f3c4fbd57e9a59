/**
 * `bun run bench [name ...]`: runs every `bench/*.bench.ts` (or the named ones) against a fresh
 * local Kafka and Redis on free ports, prints a table, and writes
 *   bench/results.json  figure name -> number (merged with figures of benches not run this time)
 *   bench/results.md    the same table, with goals, for the README to link to.
 *
 * Every bench runs within its deadline (bench/deadline.ts): its own `deadlineSeconds`, or
 * BENCH_<NAME>_DEADLINE_S, or BENCH_DEADLINE_S for every bench. When one passes, the run stops
 * there: it prints what the bench saw (records in Kafka, what each group committed, what the
 * producer dropped), writes no results, stops the stack and exits with 1. Any other failure of a
 * bench ends the run the same way, without the report.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { startTestStack, stopTestStack } from "../tools/testkit/stack.ts";
import { Deadline, deadlineMs } from "./deadline.ts";

export interface Figure {
  value: number;
  unit: string;
  /** The issue's goal, e.g. { op: ">=", value: 20000 }. */
  goal?: { op: ">=" | "<="; value: number };
  note?: string;
}

export interface Bench {
  /** Short name, used on the command line. */
  name: string;
  /**
   * How long it may take, on a busy machine (bench/deadline.ts): past it, the run fails with what
   * the bench saw. BENCH_<NAME>_DEADLINE_S or BENCH_DEADLINE_S replace it.
   */
  deadlineSeconds: number;
  /**
   * KAFKA_BROKERS and REDIS_URL of the bench stack are in process.env when this runs. It watches
   * each namespace it runs a pipeline in (`deadline.watch`), and waits with `deadline.sleep` or
   * `deadline.check`, so its loops end when the deadline passes.
   */
  run(deadline: Deadline): Promise<Record<string, Figure>>;
}

const dir = import.meta.dir;
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .sort();

const resultsJson = join(dir, "results.json");
const resultsMd = join(dir, "results.md");
const previous: { figures?: Record<string, Figure> } = existsSync(resultsJson) ? JSON.parse(readFileSync(resultsJson, "utf8")) : {};
const figures: Record<string, Figure> = { ...(previous.figures ?? {}) };

/** Puts `fresh` into `into`: a figure already there keeps its row, a new one goes right after the bench's figure before it. */
function merge(into: Record<string, Figure>, fresh: Record<string, Figure>): void {
  const rows = Object.entries(into);
  let after = -1;
  for (const [name, figure] of Object.entries(fresh)) {
    const at = rows.findIndex(([n]) => n === name);
    if (at >= 0) rows[at] = [name, figure];
    else rows.splice(after < 0 ? rows.length : after + 1, 0, [name, figure]);
    after = at >= 0 ? at : after < 0 ? rows.length - 1 : after + 1;
  }
  for (const name of Object.keys(into)) delete into[name];
  Object.assign(into, Object.fromEntries(rows));
}

// The figures are measured on a fresh stack of this run's own (startTestStack replaces
// KAFKA_BROKERS and REDIS_URL), so that they compare from run to run; the consumers bench starts
// its own cluster for the cluster figure. What `bun run infra --cluster` prints is set aside, and
// TOPIC_REPLICATION with it: the roles a bench starts inherit the environment, and a topic
// replicated 3 times cannot be created on the one broker.
// So are the security settings (the bench's Kafka is plaintext; its Redis takes the users
// tools/testkit/stack.ts makes, and startTestStack sets the bench process's own).
const security = Object.keys(process.env).filter((name) => /^KAFKA_(TLS|CA_FILE|CERT_FILE|KEY_FILE|SASL_)/.test(name));
const setAside = ["KAFKA_BROKERS", "REDIS_URL", "TOPIC_REPLICATION", ...security].filter((name) => process.env[name]);
if (setAside.length) console.error(`bench: ${setAside.join(", ")} set aside: the benches run on a Kafka and Redis of their own`);
for (const name of ["TOPIC_REPLICATION", ...security]) delete process.env[name];
const benches: Bench[] = [];
for (const file of files) benches.push((await import(join(dir, file))).default);
const unknown = only.filter((name) => !benches.some((b) => b.name === name));
if (unknown.length) {
  console.error(`bench: no bench named ${unknown.join(", ")} (there are ${benches.map((b) => b.name).join(", ")})`);
  process.exit(2);
}
await startTestStack();
let failed: unknown;
try {
  for (const bench of benches) {
    if (only.length && !only.includes(bench.name)) continue;
    const deadline = new Deadline(bench.name, deadlineMs(bench.name, bench.deadlineSeconds));
    console.error(`bench: ${bench.name} (deadline ${deadline.ms / 1000} s) ...`);
    merge(figures, await deadline.run(() => bench.run(deadline)));
  }
} catch (err) {
  failed = err;
} finally {
  // Bounded: a run that failed must still end.
  await Promise.race([stopTestStack(), Bun.sleep(60_000)]);
}
if (failed !== undefined) {
  console.error(failed instanceof Error && failed.name !== "DeadlinePassed" ? (failed.stack ?? failed.message) : failed instanceof Error ? failed.message : String(failed));
  console.error("bench: failed; no results written");
  process.exit(1);
}

const met = (f: Figure) => (f.goal ? ((f.goal.op === ">=" ? f.value >= f.goal.value : f.value <= f.goal.value) ? "yes" : "NO") : "");
const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: 2 }));
const rows = Object.entries(figures).map(([name, f]) => [name, `${fmt(f.value)} ${f.unit}`, f.goal ? `${f.goal.op} ${fmt(f.goal.value)}` : "", met(f), f.note ?? ""]);
const header = ["figure", "value", "goal", "met", "note"];
const machine = `${cpus().length} cores, ${cpus()[0]?.model ?? "unknown CPU"}, Bun ${Bun.version}`;
const at = new Date().toISOString();

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));

writeFileSync(resultsJson, `${JSON.stringify({ at, machine, ...Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.value])), figures }, null, 2)}\n`);
writeFileSync(
  resultsMd,
  [
    "# Benchmark results",
    "",
    `Written by \`bun run bench\` on ${at} (${machine}). Kafka and Redis run on the same machine.`,
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
  ].join("\n"),
);
console.error(`bench: wrote ${resultsJson} and ${resultsMd}`);
