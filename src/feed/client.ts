/**
 * The websocket connection to a blockchain.com-compatible feed: subscribes to unconfirmed
 * transactions, keeps the connection alive, notices when it dies, reconnects and subscribes
 * again. It knows nothing of the messages: every frame goes to `frame` as received.
 *
 * Size: Bun's WebSocket client (1.3) assembles each message whole before `onmessage` and has no
 * receive limit (no `maxPayload` option; a 150 MB frame arrives), so nothing here can refuse a
 * frame before it is in memory. The reader refuses one above MAX_FRAME_BYTES without decoding or
 * parsing it (src/feed/utx.ts), and its dead letter keeps a copy of its first 900 KB only.
 *
 * Keep-alive: a `{"op":"ping"}` every `pingEveryMs`. A connection that has shown no sign of life
 * (no frame at all, not even a pong) for `deadAfterMs` is given up, so a dead connection is
 * noticed within `deadAfterMs + pingEveryMs`. Reconnects wait an exponential backoff with jitter
 * (src/domain/backoff.ts; `backoffMinMs` doubling up to `backoffMaxMs`), reset once a connection
 * delivers a frame.
 */
import { backoff } from "../domain/backoff.ts";
import type { Logger } from "../domain/log.ts";

export interface FeedTiming {
  pingEveryMs: number;
  deadAfterMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

export const FEED_TIMING: FeedTiming = { pingEveryMs: 10_000, deadAfterMs: 30_000, backoffMinMs: 500, backoffMaxMs: 30_000 };

export interface FeedEvents {
  /** One frame as received (text, or bytes for a binary frame). */
  frame(data: string | Buffer): void;
  /** A connection opened again after a loss; `gapMs` since the last frame of the lost one. */
  reconnected(gapMs: number): void;
}

const SUBSCRIBE = JSON.stringify({ op: "unconfirmed_sub" });
const PING = JSON.stringify({ op: "ping" });

/** Connects and stays connected until `close()`. */
export function connectFeed(url: string, log: Logger, on: FeedEvents, timing: FeedTiming = FEED_TIMING): { close(): void } {
  let socket: WebSocket | undefined;
  let lifeAt = 0; // last sign of life of the current socket (opened, or any frame)
  let lastFrameAt: number | undefined; // last frame on any socket
  let lostAt: number | undefined; // set while disconnected after having received frames
  let attempt = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const open = () => {
    retry = undefined;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    socket = ws;
    lifeAt = Date.now();
    ws.onopen = () => {
      lifeAt = Date.now();
      ws.send(SUBSCRIBE);
      if (lostAt !== undefined) {
        const gapMs = lifeAt - lostAt;
        lostAt = undefined;
        log.info(`feed reconnected after a gap of ${(gapMs / 1000).toFixed(1)} s`, { url, gap_ms: gapMs });
        on.reconnected(gapMs);
      } else {
        log.info("feed connected", { url });
      }
    };
    ws.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
      lifeAt = lastFrameAt = Date.now();
      attempt = 0;
      on.frame(typeof event.data === "string" ? event.data : Buffer.from(event.data));
    };
    ws.onclose = (event) => lose(ws, `closed (code ${event.code}${event.reason ? `, ${event.reason}` : ""})`);
    ws.onerror = () => {}; // a close event follows with the code
  };

  const drop = (ws: WebSocket) => {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    ws.close(1000);
    socket = undefined;
  };

  const lose = (ws: WebSocket, why: string) => {
    if (ws !== socket) return;
    drop(ws);
    lostAt ??= lastFrameAt;
    const delay = backoff(attempt++, timing.backoffMinMs, timing.backoffMaxMs);
    const since = lastFrameAt === undefined ? "no frame received yet" : `last frame ${((Date.now() - lastFrameAt) / 1000).toFixed(1)} s ago`;
    log.warn(`feed ${why}; ${since}; reconnecting in ${delay} ms`, { url, attempt });
    retry = setTimeout(open, delay);
  };

  const heartbeat = setInterval(() => {
    const ws = socket;
    if (!ws) return;
    const silentMs = Date.now() - lifeAt;
    if (silentMs > timing.deadAfterMs) lose(ws, `silent for ${silentMs} ms`);
    else if (ws.readyState === WebSocket.OPEN) ws.send(PING);
  }, timing.pingEveryMs);

  open();
  return {
    close() {
      clearInterval(heartbeat);
      clearTimeout(retry);
      if (socket) drop(socket);
    },
  };
}
