import { Elysia } from "elysia";
import { clientAddress, socketOf, trustedHops } from "../client.ts";
import { ErrorBody } from "../errors.ts";
import type { Broadcaster } from "./service.ts";

export const STREAM_DESCRIPTION =
  "Server-sent events (text/event-stream) for live views, e.g. `curl -N localhost:3000/stream`. A connection starts with " +
  '`event: hello` (`{"seq": <number of the last transaction>, "metrics": {...}}`); then `event: tx` for every transaction the ' +
  "pipeline stores, in the order it was stored (late ones stamped older included), as in /show_transactions, with `id: <n>`: " +
  "transactions are numbered 1, 2, 3, … without a gap. `event: minute` (`{minute, start, count, value, complete}` of the current " +
  "minute or one of the two before it, when it changed) and `event: health` (pipeline gauges from the metrics hash, when they " +
  "changed) carry no id, so Last-Event-ID is always the last transaction's number. Reconnecting with `Last-Event-ID: <n>` " +
  "(EventSource sends it by itself) resumes: the transactions after n at once, then live ones, no gap, no duplicate, while the " +
  'server still holds them (the newest 5,000); an older n first gets `event: missed` (`{"missed": <count>}`, exact), then the ' +
  'rest. `event: reset` (`{"seq": 0}`) says the numbering started again (Redis lost its data): refetch the JSON endpoints. A ' +
  "client that does not keep up (its connection has not taken what was sent for a few seconds, or about a megabyte waits for " +
  "it) is disconnected; EventSource reconnects by itself (`retry: 2000`) and resumes. Live streams are capped per client " +
  "address (an IPv6 client counts by its /64; `STREAM_MAX_PER_ADDRESS`, 8 by default, and 1 once half the server's streams " +
  "are taken; 429) and overall (503), both with Retry-After. The server reads Redis four times a second while anyone is " +
  "connected, whatever the number of clients.";

/** `trustProxy`: `TRUST_PROXY` as configured (false, true or a number of proxies). */
export const streamRoutes = (broadcaster: Broadcaster, trustProxy = "false") => {
  const hops = trustedHops(trustProxy);
  return new Elysia({ name: "api/stream" }).get(
    "/stream",
    ({ request, server }) => {
      const address = clientAddress(request, server, hops);
      broadcaster.admit(address);
      // A dropped client's connection gets a 1 s idle timeout: it is stalled, so Bun closes it.
      const kill = () => server?.timeout(request, 1);
      const lastEventId = request.headers.get("last-event-id");
      return new Response(broadcaster.open(request.signal, { address, socket: socketOf(request, server), kill, lastEventId }), {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
        },
      });
    },
    {
      detail: {
        operationId: "stream",
        tags: ["stream"],
        summary: "Live transactions and minute counts (server-sent events)",
        description: STREAM_DESCRIPTION,
        responses: {
          200: {
            description: "an endless event stream",
            content: { "text/event-stream": { schema: { type: "string", example: 'id: 42\nevent: tx\ndata: {"hash":"…","time":1732190000,"value":12345}\n\n' } } },
          },
          429: { description: "too many live streams from this client address (Retry-After)", content: { "application/json": { schema: ErrorBody } } },
          503: { description: "too many live streams on this server (Retry-After)", content: { "application/json": { schema: ErrorBody } } },
        },
      },
    },
  );
};
