/**
 * Server-sent events for the dashboard (and for `curl -N`): one poller per process reads the
 * newest transactions and the current minutes through the API store, diffs them against what
 * it sent last, and broadcasts the differences to every connected client.
 *
 * - Events: `tx` (one new transaction, the API's view of it), `minute` (a minute bucket whose
 *   count or value changed: the current minute and the two before it), `health` (pipeline
 *   gauges from the metrics hash, when they change). Each carries `id:`, a sequence number
 *   increasing by one per event for the whole process, so a client that sees a jump knows it
 *   missed something and refetches the JSON endpoints. A connection starts with `hello`
 *   (`{"seq": <last id sent>, "metrics": {<gauges>}}`, no id), sent once the poller has its baseline: events after it
 *   are exactly what changed since.
 * - The poller runs only while at least one client is connected (every `intervalMs`).
 * - Backpressure: each client has a bounded queue of encoded events, drained as its connection
 *   takes them. A client whose queue is full when an event arrives is dropped (its stream is
 *   closed; EventSource reconnects, gets a new `hello`, and the page refetches), so a slow or
 *   stalled client never holds more than `queueMax` events of server memory.
 *
 * No Elysia here: the routes (routes.ts) wrap `open()` in a Response.
 */
import type { ApiStore } from "../store.ts";
import { toView } from "../../transaction.ts";

export interface StreamOptions {
  /** Poll period while clients are connected, ms. */
  intervalMs?: number;
  /** Events queued per client at most; a client with a full queue is dropped. */
  queueMax?: number;
  /** Newest transactions read per poll. */
  latestLimit?: number;
  /** A comment line is sent after this long without events (keeps proxies from closing), ms. */
  keepAliveMs?: number;
  /** Pipeline gauges are read every this many polls. */
  healthEvery?: number;
}

export interface StreamStats {
  clients: number;
  /** Last sequence number used. */
  seq: number;
  /** Clients dropped because their queue was full. */
  dropped: number;
  /** The longest any client queue has been (never above `queueMax`). */
  maxQueued: number;
  /** Polls done since the process started. */
  polls: number;
  queueMax: number;
}

const MINUTE_MS = 60_000;
const MINUTES_WATCHED = 3;
const HASHES_KEPT = 5_000;
const HEALTH_FIELDS = /last_message_at|reconnect|dropped|lag/;

const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
const hhmm = (ms: number) => `${pad(new Date(ms).getUTCHours())}:${pad(new Date(ms).getUTCMinutes())}`;

const txView = toView;

interface Client {
  queue: string[];
  /** Set while the connection is waiting for data. */
  wake: (() => void) | undefined;
  closed: boolean;
  controller: ReadableStreamDefaultController<Uint8Array> | undefined;
}

const encoder = new TextEncoder();

export class Broadcaster {
  private readonly intervalMs: number;
  private readonly queueMax: number;
  private readonly latestLimit: number;
  private readonly keepAliveMs: number;
  private readonly healthEvery: number;
  private readonly clients = new Set<Client>();
  private seq = 0;
  private dropped = 0;
  private maxQueued = 0;
  private polls = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The first read after the poller starts; clients get `hello` once it is done. */
  private baseline: Promise<void> | undefined;
  private sentHashes = new Set<string>();
  private sentOrder: string[] = [];
  private minutes = new Map<number, string>();
  private health = "";
  private gauges: Record<string, number> = {};
  private lastSentAt = 0;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: ApiStore,
    private readonly now: () => number = Date.now,
    opts: StreamOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.queueMax = opts.queueMax ?? 256;
    // One poll's events (new transactions, minutes, health) always fit an empty queue.
    this.latestLimit = Math.max(1, Math.min(opts.latestLimit ?? 100, this.queueMax - MINUTES_WATCHED - 2));
    this.keepAliveMs = opts.keepAliveMs ?? 15_000;
    this.healthEvery = opts.healthEvery ?? 5;
  }

  stats(): StreamStats {
    return { clients: this.clients.size, seq: this.seq, dropped: this.dropped, maxQueued: this.maxQueued, polls: this.polls, queueMax: this.queueMax };
  }

  /**
   * A new client's event stream; it ends when `signal` aborts, the reader cancels, the client is
   * dropped, or `close()` is called.
   */
  open(signal?: AbortSignal): ReadableStream<Uint8Array> {
    const client: Client = { queue: [], wake: undefined, closed: false, controller: undefined };
    const remove = () => this.remove(client);
    signal?.addEventListener("abort", remove, { once: true });
    this.clients.add(client);
    this.start();
    const ready = (this.baseline ?? Promise.resolve()).then(() => {
      if (!client.closed) this.push(client, `retry: 2000\nevent: hello\ndata: ${JSON.stringify({ seq: this.seq, metrics: this.gauges })}\n\n`);
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
          if (client.queue.length) controller.enqueue(encoder.encode(client.queue.splice(0).join("")));
          else {
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

  /** Ends every stream and stops the poller. */
  close(): void {
    for (const client of [...this.clients]) this.remove(client);
    this.stop();
  }

  /** One poll now (the timer calls it; tests may too). Never rejects. */
  poll(): Promise<void> {
    this.polling ??= this.read().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private start(): void {
    if (this.baseline) return;
    this.lastSentAt = this.now();
    this.baseline = this.poll();
    const tick = () => {
      this.timer = setTimeout(async () => {
        await this.poll();
        if (this.clients.size) tick();
      }, this.intervalMs);
    };
    tick();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.baseline = undefined;
    this.sentHashes.clear();
    this.sentOrder = [];
    this.minutes.clear();
    this.health = "";
    this.gauges = {};
  }

  private remove(client: Client): void {
    if (!this.clients.delete(client)) return;
    client.closed = true;
    client.queue = [];
    client.wake?.();
    if (!client.wake) {
      // Not waiting in pull: close it directly (it may never be read again).
      try {
        client.controller?.close();
      } catch {
        // already closed or errored
      }
    }
    if (this.clients.size === 0) this.stop();
  }

  private push(client: Client, text: string): void {
    if (client.closed) return;
    if (client.queue.length >= this.queueMax) {
      this.dropped++;
      this.remove(client);
      return;
    }
    client.queue.push(text);
    if (client.queue.length > this.maxQueued) this.maxQueued = client.queue.length;
    client.wake?.();
  }

  private broadcast(event: string, data: unknown): void {
    const id = ++this.seq;
    const text = `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of [...this.clients]) this.push(client, text);
    this.lastSentAt = this.now();
  }

  private async read(): Promise<void> {
    const first = this.sentOrder.length === 0 && this.minutes.size === 0 && this.health === "";
    const emit = !first;
    this.polls++;
    const now = this.now();
    const current = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    try {
      const [latest, buckets, metrics] = await Promise.all([
        this.store.latestTransactions(this.latestLimit, now),
        this.store.minuteBuckets(current - (MINUTES_WATCHED - 1) * MINUTE_MS, MINUTES_WATCHED),
        first || this.polls % this.healthEvery === 0 ? this.store.pipelineMetrics() : Promise.resolve(undefined),
      ]);
      const fresh = latest.filter((tx) => !this.sentHashes.has(tx.hash)).reverse(); // oldest first
      for (const tx of fresh) {
        this.sentHashes.add(tx.hash);
        this.sentOrder.push(tx.hash);
        if (emit) this.broadcast("tx", txView(tx));
      }
      while (this.sentOrder.length > HASHES_KEPT) this.sentHashes.delete(this.sentOrder.shift() as string);
      buckets.forEach((b, i) => {
        const start = current - (MINUTES_WATCHED - 1 - i) * MINUTE_MS;
        const key = `${b.count} ${b.value}`;
        if (this.minutes.get(start) === key) return;
        this.minutes.set(start, key);
        if (emit) this.broadcast("minute", { minute: hhmm(start), start: new Date(start).toISOString(), count: b.count, value: b.value, complete: start < current });
      });
      for (const start of this.minutes.keys()) if (start < current - MINUTES_WATCHED * MINUTE_MS) this.minutes.delete(start);
      if (metrics) {
        const gauges: Record<string, number> = {};
        for (const [k, v] of Object.entries(metrics)) if (HEALTH_FIELDS.test(k) && Number.isFinite(Number(v))) gauges[k] = Number(v);
        const text = JSON.stringify(gauges);
        if (text !== this.health) {
          this.health = text;
          this.gauges = gauges;
          if (emit) this.broadcast("health", { at: new Date(now).toISOString(), metrics: gauges });
        }
      }
    } catch {
      // Redis away: nothing to send; the next poll tries again (clients see no gap, nothing was sent).
    }
    if (this.clients.size && now - this.lastSentAt >= this.keepAliveMs) {
      for (const client of [...this.clients]) this.push(client, ": keep-alive\n\n");
      this.lastSentAt = now;
    }
  }
}
