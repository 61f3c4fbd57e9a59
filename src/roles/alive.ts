/**
 * `bun src/roles/alive.ts <name>`: exits 0 when the role process `<name>` (producer, or
 * consumer-<role>) beat within HEARTBEAT_STALE_MS, 1 with one line otherwise. The health check of
 * compose.yaml's roles that serve no HTTP (src/domain/heartbeat.ts).
 */
import { HEARTBEAT_STALE_MS, heartbeatAge, heartbeatFile } from "../domain/heartbeat.ts";

const name = process.argv[2];
if (!name) {
  console.error("alive: usage: bun src/roles/alive.ts <producer|consumer-<role>>");
  process.exit(2);
}
const age = heartbeatAge(name);
if (age === null || age > HEARTBEAT_STALE_MS) {
  console.error(`alive: ${name} ${age === null ? `never beat (${heartbeatFile(name)})` : `last beat ${Math.round(age / 1000)} s ago`}`);
  process.exit(1);
}
