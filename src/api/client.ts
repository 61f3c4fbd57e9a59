/**
 * Who is asking: the client address the rate limit and the /stream caps count by, and the one
 * place where addresses are parsed and normalised.
 *
 * `TRUST_PROXY` is the number of proxies you run in front of the API (Express's `trust proxy`
 * hop count): `false` = 0, `true` = 1. Like Express (proxy-addr), the hops are the socket's peer
 * followed by the X-Forwarded-For entries from right to left; the first n of them are your
 * proxies, and the client is the next one:
 * - 0: the socket's peer; X-Forwarded-For is ignored.
 * - n ≥ 1: the n-th X-Forwarded-For entry from the right, the one your outermost proxy appended
 *   (what it saw as its peer). Entries to its left were written by the client and are ignored.
 * - A header with fewer than n entries (a request that did not pass all your proxies, e.g. the
 *   proxy's own health check): its left-most entry; no header at all: the socket's peer. Express
 *   does the same.
 * This holds only while the API is reachable through your proxies alone: a client that reaches
 * it (or an inner proxy) directly writes the whole header.
 *
 * The address is then counted by network: an IPv6 address by its /64 (one subscriber's
 * allocation: a client gets 2^64 addresses for free), an IPv4-mapped IPv6 address as the IPv4.
 * Requests without a socket (`app.handle` in tests) are "local".
 */
import type { Server } from "bun";

type Peer = Pick<Server<unknown>, "requestIP"> | null | undefined;

/** `TRUST_PROXY` as the number of proxies in front of the API: "false" 0, "true" 1, else the number. */
export function trustedHops(trustProxy: string): number {
  if (trustProxy === "true") return 1;
  if (trustProxy === "false") return 0;
  const hops = Number(trustProxy);
  if (!Number.isInteger(hops) || hops < 0) throw new Error(`TRUST_PROXY=${JSON.stringify(trustProxy)}: expected false, true or a number of proxies`);
  return hops;
}

/** The key the rate limit and the /stream caps count `request` by (see the top of this file). */
export function clientAddress(request: Request, server: Peer, hops: number): string {
  const peer = server?.requestIP(request)?.address ?? "local";
  if (hops === 0) return networkOf(peer);
  const forwarded = (request.headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Closest first: the peer (hop 0), then the entries from the right.
  const chain = [peer, ...forwarded.reverse()];
  return networkOf(chain[Math.min(hops, chain.length - 1)] as string);
}

/**
 * An IP address as eight 16-bit groups (IPv4 as IPv4-mapped IPv6), or undefined when `text` is
 * not one. A port (`1.2.3.4:80`, `[::1]:80`, as some proxies write them) and an IPv6 zone
 * (`fe80::1%eth0`) are dropped.
 */
export function parseIp(text: string): number[] | undefined {
  let s = text.trim().toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1] as string;
  const v4 = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::\d{1,5})?$/.exec(s);
  if (v4) {
    const pair = v4Groups(v4[1] as string);
    return pair && [0, 0, 0, 0, 0, 0xffff, ...pair];
  }
  s = s.replace(/%[^%]*$/, "");
  if (!s.includes(":")) return undefined;
  // An IPv4 tail (`::ffff:1.2.3.4`) is the last two groups.
  const tail = /:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  if (tail) {
    const pair = v4Groups(tail[1] as string);
    if (!pair) return undefined;
    s = `${s.slice(0, tail.index + 1)}${pair[0].toString(16)}:${pair[1].toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const [left, right] = halves.map((half) => (half ? half.split(":") : []));
  const groups = [...(left ?? []), ...(right ?? [])];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  const missing = 8 - groups.length;
  // "::" stands for at least one zero group; without it there are exactly eight.
  if (right ? missing < 1 : missing !== 0) return undefined;
  return [...(left ?? []), ...Array<string>(missing).fill("0"), ...(right ?? [])].map((g) => Number.parseInt(g, 16));
}

/** A dotted IPv4 address as two 16-bit groups. */
function v4Groups(text: string): [number, number] | undefined {
  const b = text.split(".").map(Number);
  if (b.length !== 4 || b.some((x) => x > 255)) return undefined;
  const [b0, b1, b2, b3] = b as [number, number, number, number];
  return [(b0 << 8) | b1, (b2 << 8) | b3];
}

const isV4 = (g: number[]) => g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
const dotted = (g: number[]) => [(g[6] as number) >> 8, (g[6] as number) & 255, (g[7] as number) >> 8, (g[7] as number) & 255].join(".");
const hex = (g: number[]) => g.map((x) => x.toString(16).padStart(4, "0")).join(":");

/** IPv4 dotted; an IPv4-mapped IPv6 address as its IPv4; any other IPv6 as 8 groups of 4 hex digits; anything else as given. */
export function canonical(address: string): string {
  const g = parseIp(address);
  if (!g) return address;
  return isV4(g) ? dotted(g) : hex(g);
}

/**
 * What one client is counted as: an IPv4 address (also when written IPv4-mapped), the /64 of an
 * IPv6 address (`2001:0db8:0000:0001::/64`), or, for what is not an IP address, the text itself
 * (at most 100 characters).
 */
export function networkOf(address: string): string {
  const g = parseIp(address);
  if (!g) return address.slice(0, 100);
  return isV4(g) ? dotted(g) : `${hex(g.slice(0, 4))}::/64`;
}

/** The socket of a request as the kernel lists it: peer address and port, and the local port. */
export interface SocketId {
  address: string;
  port: number;
  localPort: number;
}

export function socketOf(request: Request, server: (Pick<Server<unknown>, "requestIP"> & { port?: number }) | null | undefined): SocketId | undefined {
  const peer = server?.requestIP(request);
  if (!peer || !server?.port) return undefined;
  return { address: peer.address, port: peer.port, localPort: server.port };
}
