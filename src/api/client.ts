/**
 * Who is asking: the client address the rate limit and the /stream caps count by.
 *
 * By default the socket's peer address (`server.requestIP`). With `TRUST_PROXY=true`, the
 * left-most X-Forwarded-For entry instead: only behind a proxy you run, which sets it; anyone
 * else can write any address there. Requests without a socket (`app.handle` in tests) are "local".
 */
import type { Server } from "bun";

export type Trust = "true" | "false";

export function clientAddress(request: Request, server: Pick<Server<unknown>, "requestIP"> | null | undefined, trustProxy: Trust): string {
  if (trustProxy === "true") {
    const forwarded = request.headers.get("x-forwarded-for");
    const first = forwarded?.split(",")[0]?.trim();
    if (first) return first.slice(0, 100);
  }
  return server?.requestIP(request)?.address ?? "local";
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
