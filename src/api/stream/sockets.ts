/**
 * How many bytes each TCP connection of this machine has sent but the peer has not taken yet
 * (the kernel's send queue, `tx_queue` of /proc/net/tcp and /proc/net/tcp6; Linux only).
 *
 * Why: Bun 1.3's server takes a streamed Response body as fast as it is produced, whatever the
 * socket can send (oven-sh/bun#32469), and offers no way to see what it holds. But while it holds
 * anything for a connection, that connection's kernel send queue is full, never empty: a send
 * queue that stays non-empty over several samples is a client that is not keeping up.
 */
import { readFileSync } from "node:fs";
import { canonical } from "../client.ts";

/** `localPort|address|port` of a connection, the address as `canonical()` writes it. */
export const socketKey = (localPort: number, address: string, port: number) => `${localPort}|${canonical(address)}|${port}`;

/** /proc's address: IPv4 as one little-endian word, IPv6 as four. */
function procAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes: number[] = [];
  for (const w of words) for (let i = 3; i >= 0; i--) bytes.push(Number.parseInt(w.slice(i * 2, i * 2 + 2), 16));
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16).padStart(4, "0"));
  return groups.join(":");
}

/**
 * Send-queue bytes per established connection whose local port is one of `localPorts`, keyed by
 * `socketKey`; undefined where /proc/net/tcp cannot be read (not Linux).
 */
export function sendQueues(localPorts: ReadonlySet<number>, files = ["/proc/net/tcp", "/proc/net/tcp6"]): Map<string, number> | undefined {
  const out = new Map<string, number>();
  let read = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "latin1");
    } catch {
      continue;
    }
    read++;
    for (const line of text.split("\n")) {
      // sl local_address rem_address st tx_queue:rx_queue ...
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || f[3] !== "01") continue; // 01: ESTABLISHED
      const [localHex, localPortHex] = (f[1] ?? "").split(":");
      const [remoteHex, remotePortHex] = (f[2] ?? "").split(":");
      if (!localHex || !localPortHex || !remoteHex || !remotePortHex) continue;
      const localPort = Number.parseInt(localPortHex, 16);
      if (!localPorts.has(localPort)) continue;
      const tx = Number.parseInt((f[4] ?? "0:0").split(":")[0] ?? "0", 16);
      out.set(`${localPort}|${procAddress(remoteHex)}|${Number.parseInt(remotePortHex, 16)}`, tx);
    }
  }
  return read ? out : undefined;
}
