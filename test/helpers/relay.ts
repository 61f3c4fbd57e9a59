/**
 * A TCP relay on a port of this machine to a server (Kafka, Redis), opened and closed when the
 * test says: the server "comes back" or "goes away" for the process under test only.
 */
import { createServer, connect as netConnect, type Socket } from "node:net";

/** Listens on `port` and relays every connection to `target` (host:port); `close()` ends them all. */
export async function relayTo(target: string, port: number): Promise<{ close(): void }> {
  const [host, targetPort] = target.split(":") as [string, string];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect(Number(targetPort), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {}).on("close", () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((ready) => server.listen(port, "127.0.0.1", ready));
  return {
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** `url` (redis://...) with its host and port replaced by 127.0.0.1:`port`, credentials kept. */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(port);
  return u.toString();
}

/** host:port of a redis:// URL. */
export const hostPort = (url: string): string => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 6379}`;
};
