/**
 * /stream: the event source (source.ts: one poller per process, diffing what Redis holds) and the
 * per-client transport (transport.ts: bounded streams, caps per address and overall), put
 * together. The routes (routes.ts) admit a client and wrap `open()` in a Response.
 */
import type { SocketId } from "../client.ts";
import type { ApiStore } from "../store.ts";
import { EventSourcePoller, MINUTES_WATCHED, type SourceOptions } from "./source.ts";
import { Transport, type TransportOptions } from "./transport.ts";

export type StreamOptions = SourceOptions & TransportOptions;

export interface StreamStats {
  clients: number;
  /** Last sequence number used. */
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

export class Broadcaster {
  readonly source: EventSourcePoller;
  readonly transport: Transport;

  constructor(store: ApiStore, now: () => number = Date.now, opts: StreamOptions = {}) {
    this.transport = new Transport(opts);
    // One poll's events (new transactions, minutes, health) always fit an empty queue.
    const latestLimit = Math.max(1, Math.min(opts.latestLimit ?? 100, this.transport.queueMax - MINUTES_WATCHED - 2));
    this.source = new EventSourcePoller(store, now, { ...opts, latestLimit }, () => this.transport.watch());
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
   * dropped, or `close()` is called.
   */
  open(signal?: AbortSignal, client: { address?: string; socket?: SocketId; kill?: () => void } = {}): ReadableStream<Uint8Array> {
    return this.transport.open(
      { address: client.address ?? "local", socket: client.socket, kill: client.kill, signal, ready: () => this.source.ready, first: () => this.source.hello() },
      (push) => this.source.subscribe(push),
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
