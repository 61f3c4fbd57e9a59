/**
 * The transport of /stream: one ReadableStream per client, fed with the source's encoded events,
 * and the limits that keep a client from costing the API memory.
 *
 * - Admission: at most `maxClients` streams at once, at most `maxPerAddress` from one client
 *   address (client.ts: an IPv6 client by its /64), and only one per address once half of
 *   `maxClients` are taken. Over: 503 (all) or 429 (this address), with Retry-After.
 * - Bytes not yet taken, per client: what waits in its queue here (at most `queueMax` events and
 *   `maxPendingBytes`) plus, on a real socket, what was handed to Bun while the connection's
 *   kernel send queue stayed full (Bun 1.3 buffers a streamed body without limit and does not
 *   say how much it holds: sockets.ts). A connection's first messages (hello, and the events a
 *   resuming client missed: at most the source's ring) come on top, once. A client over either bound, or whose send queue has not
 *   emptied for `behindMs`, is disconnected: a socket is aborted (Bun frees what it held), a
 *   stream without a socket (`app.handle`) is closed. EventSource reconnects by itself and the
 *   page refetches.
 * - Without /proc (not Linux) the socket cannot be watched: a connection then ends after
 *   `UNWATCHED_BYTES_FACTOR` × `maxPendingBytes` and the client reconnects.
 */

import type { SocketId } from "../client.ts";
import { TooManyRequestsError, UnavailableError } from "../errors.ts";
import { sendQueues, socketKey } from "./sockets.ts";

export interface TransportOptions {
  /** Events queued per client at most. */
  queueMax?: number;
  /** Bytes not yet taken per client at most (queue + held while its socket is behind). */
  maxPendingBytes?: number;
  /** A client whose socket has not emptied for this long is disconnected, ms. */
  behindMs?: number;
  maxClients?: number;
  maxPerAddress?: number;
}

export interface TransportStats {
  clients: number;
  /** Clients disconnected for not keeping up (queue full, too many bytes pending, or behind too long). */
  dropped: number;
  /** Connections refused by the caps. */
  refused: number;
  /** The longest any client queue has been (never above `queueMax`). */
  maxQueued: number;
  queueMax: number;
  maxPendingBytes: number;
}

export const UNWATCHED_BYTES_FACTOR = 16;
const encoder = new TextEncoder();

interface Client {
  address: string;
  socket: SocketId | undefined;
  queue: string[];
  /** The first `backlog` queued are the connection's first messages (not held to the bounds). */
  backlog: number;
  queuedBytes: number;
  /** Set while the stream waits in pull for data. */
  wake: (() => void) | undefined;
  closed: boolean;
  controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Bytes handed to the server since the connection was first seen behind (or ever, when unwatched). */
  handedWhileBehind: number;
  behindSince: number | undefined;
  unsubscribe: () => void;
  /** Makes the server close the connection (what it holds for it goes with it). */
  kill: (() => void) | undefined;
}

export class Transport {
  readonly queueMax: number;
  readonly maxPendingBytes: number;
  private readonly behindMs: number;
  private readonly maxClients: number;
  private readonly maxPerAddress: number;
  private readonly clients = new Set<Client>();
  private readonly perAddress = new Map<string, number>();
  private dropped = 0;
  private refused = 0;
  private maxQueued = 0;
  /** Last sample of the kernel send queues: undefined before the first, null when /proc cannot be read. */
  private watchable: boolean | undefined;

  constructor(
    opts: TransportOptions = {},
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.queueMax = opts.queueMax ?? 8_192;
    this.maxPendingBytes = opts.maxPendingBytes ?? 1 << 20;
    this.behindMs = opts.behindMs ?? 5_000;
    this.maxClients = opts.maxClients ?? 1_000;
    this.maxPerAddress = opts.maxPerAddress ?? 8;
  }

  stats(): TransportStats {
    return { clients: this.clients.size, dropped: this.dropped, refused: this.refused, maxQueued: this.maxQueued, queueMax: this.queueMax, maxPendingBytes: this.maxPendingBytes };
  }

  get size(): number {
    return this.clients.size;
  }

  /** Throws (429 / 503 with Retry-After) when a new stream from `address` is over a cap. */
  admit(address: string): void {
    if (this.clients.size >= this.maxClients) {
      this.refused++;
      throw new UnavailableError(`the server has ${this.maxClients} live streams already; try again shortly`, undefined, 10);
    }
    // Once half the slots are taken, a new stream needs an address that holds none: filling the
    // server then takes maxClients/2 + maxClients/(2 × maxPerAddress) addresses, rounded up (563
    // with the defaults), not maxClients/maxPerAddress (125).
    const held = this.perAddress.get(address) ?? 0;
    if (this.clients.size >= this.maxClients / 2 && held >= 1) {
      this.refused++;
      throw new TooManyRequestsError("at most 1 live stream per client address while the server is more than half full; close it or try again later", 10);
    }
    if (held >= this.maxPerAddress) {
      this.refused++;
      throw new TooManyRequestsError(`at most ${this.maxPerAddress} live streams per client address; close one or try again later`, 10);
    }
  }

  /**
   * A new client's stream (call `admit` first). `subscribe(push)` connects it to the source; then
   * `ready()` is awaited before the first byte, and `first()` gives its first messages (from then
   * on the source pushes it live events).
   */
  open(
    opts: { address: string; socket?: SocketId; signal?: AbortSignal; ready: () => Promise<void>; first: () => string | string[]; kill?: () => void },
    subscribe: (push: (text: string) => void) => () => void,
  ): ReadableStream<Uint8Array> {
    const client: Client = {
      address: opts.address,
      socket: opts.socket,
      queue: [],
      backlog: 0,
      queuedBytes: 0,
      wake: undefined,
      closed: false,
      controller: undefined,
      handedWhileBehind: 0,
      behindSince: undefined,
      unsubscribe: () => {},
      kill: opts.kill,
    };
    this.clients.add(client);
    this.perAddress.set(client.address, (this.perAddress.get(client.address) ?? 0) + 1);
    const remove = () => this.remove(client, false);
    opts.signal?.addEventListener("abort", remove, { once: true });
    client.unsubscribe = subscribe((text) => this.push(client, text));
    const ready = opts.ready().then(() => {
      if (client.closed) return;
      // hello, and what a resuming client missed: bounded by the source's ring (its events and
      // bytes), shared with it (the queue holds references), so not held to the queue's bounds.
      const given = opts.first();
      const first = typeof given === "string" ? [given] : given;
      client.queue.unshift(...first);
      client.backlog += first.length;
      client.wake?.();
    });
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          client.controller = controller;
        },
        pull: async (controller) => {
          await ready;
          while (!client.closed && client.queue.length === 0) await new Promise<void>((wake) => (client.wake = wake));
          client.wake = undefined;
          if (client.queue.length) {
            const bytes = encoder.encode(client.queue.splice(0).join(""));
            client.queuedBytes = 0;
            client.backlog = 0;
            controller.enqueue(bytes);
            this.handed(client, bytes.byteLength);
          } else {
            try {
              controller.close();
            } catch {
              // closed already by remove()
            }
          }
        },
        cancel: remove,
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * Samples the kernel send queue of every watched client's connection: one that has not emptied
   * for `behindMs` is disconnected. Called once per source tick, before its poll.
   */
  watch(): void {
    const ports = new Set<number>();
    for (const c of this.clients) if (c.socket) ports.add(c.socket.localPort);
    if (ports.size === 0) return;
    const queues = sendQueues(ports);
    this.watchable = queues !== undefined;
    if (!queues) return;
    const now = this.monotonic();
    for (const client of [...this.clients]) {
      if (!client.socket) continue;
      const queued = queues.get(socketKey(client.socket.localPort, client.socket.address, client.socket.port));
      if (!queued) {
        client.behindSince = undefined;
        client.handedWhileBehind = 0;
        continue;
      }
      client.behindSince ??= now;
      if (now - client.behindSince >= this.behindMs) this.drop(client);
    }
  }

  /** Ends every stream. */
  close(): void {
    for (const client of [...this.clients]) this.remove(client, false);
  }

  private handed(client: Client, bytes: number): void {
    if (!client.socket) return;
    if (this.watchable === false) {
      client.handedWhileBehind += bytes;
      if (client.handedWhileBehind > UNWATCHED_BYTES_FACTOR * this.maxPendingBytes) this.remove(client, false);
      return;
    }
    if (client.behindSince === undefined) return;
    client.handedWhileBehind += bytes;
    if (client.handedWhileBehind > this.maxPendingBytes) this.drop(client);
  }

  private push(client: Client, text: string): void {
    if (client.closed) return;
    const queued = client.queue.length - client.backlog;
    if (queued >= this.queueMax || client.queuedBytes + text.length > this.maxPendingBytes) {
      this.drop(client);
      return;
    }
    client.queue.push(text);
    client.queuedBytes += text.length;
    if (queued + 1 > this.maxQueued) this.maxQueued = queued + 1;
    client.wake?.();
  }

  /** Disconnects a client that does not keep up. */
  private drop(client: Client): void {
    if (client.closed) return;
    this.dropped++;
    // A socket is aborted, so that the server lets go of what it holds for it.
    this.remove(client, client.socket !== undefined);
  }

  private remove(client: Client, abort: boolean): void {
    if (!this.clients.delete(client)) return;
    const left = (this.perAddress.get(client.address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(client.address, left);
    else this.perAddress.delete(client.address);
    client.closed = true;
    client.queue = [];
    client.backlog = 0;
    client.queuedBytes = 0;
    client.unsubscribe();
    if (abort) {
      try {
        client.controller?.error(new Error("the client did not keep up"));
      } catch {
        // already closed or errored
      }
      // An errored body alone leaves the connection open with what Bun holds for it.
      client.kill?.();
      client.wake?.();
      return;
    }
    client.wake?.();
    if (!client.wake) {
      // Not waiting in pull: close it directly (it may never be read again).
      try {
        client.controller?.close();
      } catch {
        // already closed or errored
      }
    }
  }
}
