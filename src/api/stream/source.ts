/**
 * The source of the /stream events: one poller per process reads the transactions stream (every
 * transaction the transactions projection stored, numbered 1, 2, … in the order stored: the
 * `transactionsAfter` feed), the current minutes and (every few polls) the pipeline gauges
 * through the API store, and hands each new thing to its subscribers as one encoded SSE event.
 * It knows nothing of connections (transport.ts does).
 *
 * - `tx` events: one per stored transaction, `id: <n>` its number, read from where the last
 *   poll stopped (at most `pollMax` a poll; the rest next poll), so none is skipped, late ones
 *   included. `minute` (a minute bucket whose count or value changed) and `health` (pipeline
 *   gauges, when they change) carry no id: a client's Last-Event-ID is always the number of
 *   the last transaction it got.
 * - `missed` (`{"missed": k}`, with the id through which it counts): k transactions the client
 *   will not get (it resumed from a number older than the ring, or the poller itself fell
 *   behind the trimmed stream). `reset` (`{"seq": n}`, `id: <n>`): the stream started again
 *   (Redis lost it: a FLUSHALL); numbers start again after n.
 * - The ring: the newest `RING_MAX` encoded tx events (and at most `RING_MAX_BYTES`), filled
 *   from Redis when the poller starts. A connection that sends `Last-Event-ID: <n>` gets the
 *   ring's events after n at once, at subscribe time (`begin`), then the live ones: no gap, no
 *   duplicate. An n older than the ring gets `missed` first.
 * - `begin()` gives a connection's first messages (`hello`: `{"seq": <last n>, "metrics": {...}}`,
 *   no id; then what it resumes), valid once `ready` has resolved (the poller has its baseline);
 *   a subscriber gets live events only from then on.
 * - The poller runs only while someone is subscribed (every `intervalMs`); `beforePoll` runs
 *   first on each tick (the transport samples its sockets there).
 */
import { toView } from "../../domain/transaction.ts";
import { hhmm } from "../../domain/window.ts";
import type { ApiStore } from "../store.ts";

export interface SourceOptions {
  /** Poll period while subscribed, ms. */
  intervalMs?: number;
  /** Most transactions read per poll (the rest on the next). */
  pollMax?: number;
  /** A comment line is sent after this long without events (keeps proxies from closing), ms. */
  keepAliveMs?: number;
  /** Pipeline gauges are read every this many polls. */
  healthEvery?: number;
  /** Encoded tx events kept for resuming connections, at most. */
  ringMax?: number;
}

export type Listener = (text: string) => void;

/** A subscriber: it gets live events once `begin` has given it its first messages. */
export interface Subscription {
  readonly listener: Listener;
  live: boolean;
}

const MINUTE_MS = 60_000;
export const MINUTES_WATCHED = 3;
/** Poll period while subscribed: a stored transaction reaches the clients within it (stream_delivery_p99_ms, goal 250 ms). */
export const POLL_MS = 100;
/** Transactions read per poll at most: 2,000 a 100 ms poll is 20,000 tx/s. */
export const POLL_MAX = 2_000;
/** Entries per XRANGE. */
const READ_CHUNK = 1_000;
/** Tx events kept for resuming connections: 10 s at 500 tx/s. */
export const RING_MAX = 5_000;
/** And at most these bytes of them (a tx event is some 300 to 1,000 B): the newest go in, the oldest out. */
export const RING_MAX_BYTES = 4 << 20;
const HEALTH_FIELDS = /last_message_at|reconnect|dropped|lag|supervisor_restarts/;

const txEvent = (n: number, data: unknown) => `id: ${n}\nevent: tx\ndata: ${JSON.stringify(data)}\n\n`;

export class EventSourcePoller {
  readonly intervalMs: number;
  readonly pollMax: number;
  readonly ringMax: number;
  private readonly keepAliveMs: number;
  private readonly healthEvery: number;
  private readonly subscribers = new Set<Subscription>();
  /** The number of the last transaction sent (or taken as the baseline); undefined before the baseline. */
  private lastN: number | undefined;
  private polls = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The first read after the poller starts. */
  private baseline: Promise<void> | undefined;
  /** The newest tx events, oldest first from `ringHead`, numbers contiguous. */
  private ring: { n: number; text: string }[] = [];
  private ringHead = 0;
  private ringBytes = 0;
  private minutes = new Map<number, string>();
  private health = "";
  private gauges: Record<string, number> = {};
  private lastSentAt = 0;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: ApiStore,
    private readonly now: () => number = Date.now,
    opts: SourceOptions = {},
    private readonly beforePoll: () => void = () => {},
  ) {
    this.intervalMs = opts.intervalMs ?? POLL_MS;
    this.pollMax = Math.max(1, opts.pollMax ?? POLL_MAX);
    this.ringMax = Math.max(0, opts.ringMax ?? RING_MAX);
    this.keepAliveMs = opts.keepAliveMs ?? 15_000;
    this.healthEvery = opts.healthEvery ?? 50;
  }

  /** The number of the last transaction sent (0 before any). */
  get lastSeq(): number {
    return this.lastN ?? 0;
  }

  get pollCount(): number {
    return this.polls;
  }

  /** Resolves once the baseline is read (at once when not polling). */
  get ready(): Promise<void> {
    return this.baseline ?? Promise.resolve();
  }

  /** The numbers the ring holds, [first, last]; undefined when empty. */
  get ringSpan(): [number, number] | undefined {
    const first = this.ring[this.ringHead];
    const last = this.ring.at(-1);
    return first && last ? [first.n, last.n] : undefined;
  }

  /**
   * Starts the poller if needed; the subscriber gets no event until `begin`. Returns the
   * unsubscribe function (the poller stops with the last).
   */
  subscribe(listener: Listener): { subscription: Subscription; unsubscribe: () => void } {
    const subscription: Subscription = { listener, live: false };
    this.subscribers.add(subscription);
    this.start();
    return {
      subscription,
      unsubscribe: () => {
        if (this.subscribers.delete(subscription) && this.subscribers.size === 0) this.stop();
      },
    };
  }

  /**
   * A connection's first messages (call once `ready` resolved): `hello`, then, for `after` (its
   * Last-Event-ID), what it missed since: `missed` when after is older than the ring, the ring's
   * events after it, or `reset` when after is beyond the last number (the stream started again).
   * From this call on, the subscriber gets every live event: nothing can come in between.
   */
  begin(subscription: Subscription, after?: number): string[] {
    const out = [`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ seq: this.lastSeq, metrics: this.gauges })}\n\n`];
    const last = this.lastSeq;
    if (after !== undefined && this.lastN !== undefined && after !== last) {
      if (after > last) {
        out.push(`id: ${last}\nevent: reset\ndata: ${JSON.stringify({ seq: last })}\n\n`);
      } else {
        const first = this.ring[this.ringHead]?.n ?? last + 1;
        if (after < first - 1) out.push(`id: ${first - 1}\nevent: missed\ndata: ${JSON.stringify({ missed: first - 1 - after })}\n\n`);
        // The ring's numbers are contiguous: the events after `after` start at a known index.
        for (let i = this.ringHead + Math.max(0, after - first + 1); i < this.ring.length; i++) out.push((this.ring[i] as { text: string }).text);
      }
    }
    if (this.subscribers.has(subscription)) subscription.live = true;
    return out;
  }

  /** Stops polling and forgets every subscriber. */
  close(): void {
    this.subscribers.clear();
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
        this.beforePoll();
        await this.poll();
        if (this.subscribers.size) tick();
      }, this.intervalMs);
    };
    tick();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.baseline = undefined;
    this.lastN = undefined;
    this.clearRing();
    this.minutes.clear();
    this.health = "";
    this.gauges = {};
  }

  private clearRing(): void {
    this.ring = [];
    this.ringHead = 0;
    this.ringBytes = 0;
  }

  private keep(n: number, text: string): void {
    if (this.ringMax === 0) return;
    this.ring.push({ n, text });
    this.ringBytes += text.length;
    while (this.ring.length - this.ringHead > this.ringMax || (this.ringBytes > RING_MAX_BYTES && this.ring.length - this.ringHead > 1)) {
      this.ringBytes -= (this.ring[this.ringHead] as { text: string }).text.length;
      this.ringHead++;
    }
    if (this.ringHead > 1_024 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead);
      this.ringHead = 0;
    }
  }

  private emit(text: string): void {
    for (const s of [...this.subscribers]) if (s.live) s.listener(text);
    this.lastSentAt = this.now();
  }

  private broadcast(event: string, data: unknown, id?: number): void {
    this.emit(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** The baseline: the stream's last number, and the ring filled with the newest entries before it (nothing sent). */
  private async readBaseline(): Promise<void> {
    this.clearRing();
    const last = await this.store.lastTransactionSeq();
    let n = Math.max(0, last - this.ringMax);
    while (n < last) {
      const entries = await this.store.transactionsAfter(n, Math.min(READ_CHUNK, last - n));
      if (!entries.length) break;
      for (const e of entries) {
        if (e.n > last) break;
        if (e.n !== n + 1) this.clearRing(); // a trimmed stretch: the ring holds contiguous numbers
        this.keep(e.n, txEvent(e.n, toView(e.tx)));
        n = e.n;
      }
    }
    this.lastN = last;
  }

  /** Every transaction stored since the last poll (at most `pollMax`), in order. */
  private async readTransactions(): Promise<void> {
    const last = await this.store.lastTransactionSeq();
    let lastN = this.lastN as number;
    if (last < lastN) {
      // The stream is gone (a FLUSHALL, a new Redis): its numbers start again.
      this.clearRing();
      lastN = this.lastN = 0;
      this.broadcast("reset", { seq: 0 }, 0);
    }
    let read = 0;
    while (lastN < last && read < this.pollMax) {
      const entries = await this.store.transactionsAfter(lastN, Math.min(READ_CHUNK, this.pollMax - read));
      if (!entries.length) break;
      read += entries.length;
      for (const e of entries) {
        if (e.n <= lastN) continue;
        if (e.n > lastN + 1) {
          // Trimmed before this poller read them (it fell more than the stream's length behind).
          this.clearRing();
          this.broadcast("missed", { missed: e.n - lastN - 1 }, e.n - 1);
        }
        const text = txEvent(e.n, toView(e.tx));
        this.keep(e.n, text);
        lastN = this.lastN = e.n;
        this.emit(text);
      }
    }
  }

  private async read(): Promise<void> {
    const first = this.lastN === undefined;
    const emit = !first;
    this.polls++;
    const now = this.now();
    const current = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    try {
      // All three settle before the poll ends (the next poll must not read the stream while this one does).
      const [, read, health] = await Promise.allSettled([
        first ? this.readBaseline() : this.readTransactions(),
        this.store.minuteBuckets(current - (MINUTES_WATCHED - 1) * MINUTE_MS, MINUTES_WATCHED),
        first || this.polls % this.healthEvery === 0 ? this.store.pipelineMetrics() : Promise.resolve(undefined),
      ]);
      const buckets = read.status === "fulfilled" ? read.value : [];
      const metrics = health.status === "fulfilled" ? health.value : undefined;
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
      // Not expected (every read settled above); the next poll goes on.
    }
    // Redis away: the next poll goes on from the last transaction sent (nothing is skipped), or
    // reads the baseline again.
    if (this.subscribers.size && now - this.lastSentAt >= this.keepAliveMs) {
      this.emit(": keep-alive\n\n");
      this.lastSentAt = now;
    }
  }
}
