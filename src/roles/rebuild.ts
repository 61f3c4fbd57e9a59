/**
 * `bun run rebuild [--group counts|addresses|transactions]`: recomputes the Redis state of the
 * chosen consumer groups (default all three) from the Kafka log (src/rebuild/rebuild.ts), on a
 * live pipeline: the group's consumer roles step aside while it runs. Exits 0 when done, 1 when
 * refused or failed, 2 on a bad argument.
 */
import { configOrExit } from "../config.ts";
import type { GroupRole } from "../kafka/client.ts";
import { createLogger } from "../log.ts";
import { REBUILD_ROLES, RebuildRefused, rebuild } from "../rebuild/rebuild.ts";

function parseRoles(args: string[]): GroupRole[] {
  const roles: GroupRole[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = arg === "--group" ? args[++i] : arg.startsWith("--group=") ? arg.slice("--group=".length) : undefined;
    if (value === undefined || !REBUILD_ROLES.includes(value as GroupRole)) {
      console.error(`rebuild: ${arg === "--group" || arg.startsWith("--group=") ? `--group ${JSON.stringify(value ?? "")} is not allowed` : `unknown argument ${JSON.stringify(arg)}`}; usage: bun run rebuild [--group ${REBUILD_ROLES.join("|")}]`);
      process.exit(2);
    }
    roles.push(value as GroupRole);
  }
  return roles;
}

const roles = parseRoles(process.argv.slice(2));
const config = configOrExit();
const log = createLogger("rebuild", config);
const abort = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (abort.signal.aborted) process.exit(130);
    console.error(`rebuild: ${signal}: stopping (the replayed part is committed; run the consumers or the rebuild again)`);
    abort.abort();
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
try {
  const results = await rebuild({
    config,
    roles,
    log,
    signal: abort.signal,
    onProgress: (p) => {
      const pct = p.total ? Math.floor((100 * p.replayed) / p.total) : 100;
      const left = p.done ? "done" : p.secondsLeft === null ? "time left unknown" : `~${Math.ceil(p.secondsLeft)} s left`;
      console.log(`rebuild ${p.role} (${p.group}): ${fmt(p.replayed)} of ${fmt(p.total)} records (${pct}%), ${fmt(p.rate)} records/s, ${left}`);
    },
  });
  for (const r of results) console.log(`rebuild ${r.role}: ${fmt(r.replayed)} records replayed, ${fmt(r.deletedKeys)} old keys deleted, ${(r.ms / 1000).toFixed(1)} s`);
  process.exit(0);
} catch (err) {
  console.error(err instanceof RebuildRefused ? `rebuild: ${err.message}` : `rebuild failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
