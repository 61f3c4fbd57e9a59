/**
 * /stream: the event source (source.ts: one poller per process, reading the transactions stream
 * from where it stopped, and diffing the minutes and gauges) and the
 * per-client transport (transport.ts: bounded streams, caps per address and overall), put
 * together. The routes (routes.ts) admit a client and wrap `open()` in a Response.
 */
import type { SocketId } from "../client.ts";
import type { ApiStore } from "../store.ts";
import { EventSourcePoller, MINUTES_WATCHED, POLL_MAX, type SourceOptions, type Subscription } from "./source.ts";
import { Transport, type TransportOptions } from "./transport.ts";

export type StreamOptions = SourceOptions & TransportOptions;

export interface StreamStats {
  clients: number;
  /** The number of the last transaction sent (the transactions stream's). */
  seq: number;
  /** Clients disconnected for not keeping up. */
  dropped: number;
  /** Connections refused by the caps. */
  refused: number;
  /** The longest any client queue has been (never above `queueMax`). */
  maxQueued: number;
  /** Polls done since the process started. */
  polls: number;
  queueMax: number;
}

/** A Last-Event-ID header as a transaction number; undefined when absent or not one. */
export function lastEventIdOf(header: string | null | undefined): number | undefined {
  const text = header?.trim();
  if (!text || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

export class Broadcaster {
  readonly source: EventSourcePoller;
  readonly transport: Transport;

  constructor(store: ApiStore, now: () => number = Date.now, opts: StreamOptions = {}) {
    this.transport = new Transport(opts);
    // One poll's events (new transactions, a missed or reset, minutes, health) always fit an empty queue.
    const pollMax = Math.max(1, Math.min(opts.pollMax ?? POLL_MAX, this.transport.queueMax - MINUTES_WATCHED - 3));
    this.source = new EventSourcePoller(store, now, { ...opts, pollMax }, () => this.transport.watch());
  }

  stats(): StreamStats {
    const t = this.transport.stats();
    return { clients: t.clients, seq: this.source.lastSeq, dropped: t.dropped, refused: t.refused, maxQueued: t.maxQueued, polls: this.source.pollCount, queueMax: t.queueMax };
  }

  /** Throws a 429 / 503 (with Retry-After) when a stream from `address` is over a cap. */
  admit(address: string): void {
    this.transport.admit(address);
  }

  /**
   * A new client's event stream; it ends when `signal` aborts, the reader cancels, the client is
   * dropped, or `close()` is called. `lastEventId` (the Last-Event-ID header) resumes after that
   * transaction: what it missed first (source.ts), then the live events.
   */
  open(signal?: AbortSignal, client: { address?: string; socket?: SocketId; kill?: () => void; lastEventId?: string | null } = {}): ReadableStream<Uint8Array> {
    const after = lastEventIdOf(client.lastEventId);
    let subscription: Subscription | undefined;
    return this.transport.open(
      {
        address: client.address ?? "local",
        socket: client.socket,
        kill: client.kill,
        signal,
        ready: () => this.source.ready,
        first: () => (subscription ? this.source.begin(subscription, after) : []),
      },
      (push) => {
        const s = this.source.subscribe(push);
        subscription = s.subscription;
        return s.unsubscribe;
      },
    );
  }

  /** Ends every stream and stops the poller. */
  close(): void {
    this.transport.close();
    this.source.close();
  }

  /** One poll now. Never rejects. */
  poll(): Promise<void> {
    return this.source.poll();
  }
}
