/**
 * A role process says it is alive by touching a file (`<tmpdir>/btc-<name>.alive`) every
 * HEARTBEAT_MS, from the work it must keep doing (a consumer: its positions tick; the producer:
 * its timer). `bun src/roles/alive.ts <name>` answers whether it did lately: the health check of
 * the roles that serve no HTTP (compose.yaml). A process that cannot move exits on its own
 * (STUCK_EXIT_SECONDS, src/consumers/positions.ts) and `restart:` brings it back; the health check shows
 * one that hangs.
 */
import { statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const HEARTBEAT_MS = 5_000;
/** A heartbeat older than this is a process that stopped beating. */
export const HEARTBEAT_STALE_MS = 30_000;

export const heartbeatFile = (name: string) => join(tmpdir(), `btc-${name}.alive`);

/** Touches the file now (best effort: a full or read-only disk must not stop the role). */
export function beat(name: string): void {
  try {
    writeFileSync(heartbeatFile(name), String(Date.now()));
  } catch {
    // The health check will say so.
  }
}

/** How long ago the file was touched (ms), or null when it never was. */
export function heartbeatAge(name: string, nowMs = Date.now()): number | null {
  try {
    return nowMs - statSync(heartbeatFile(name)).mtimeMs;
  } catch {
    return null;
  }
}
