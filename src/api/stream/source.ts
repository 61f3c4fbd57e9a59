/**
 * The source of the /stream events: one poller per process reads the newest transactions, the
 * current minutes and (every few polls) the pipeline gauges through the API store, diffs them
 * against what it saw last, and hands each difference to its subscribers as one encoded SSE
 * event. It knows nothing of connections (transport.ts does).
 *
 * - Events: `tx` (one new transaction, the API's view of it), `minute` (a minute bucket whose
 *   count or value changed: the current minute and the two before it), `health` (pipeline
 *   gauges from the metrics hash, when they change). Each carries `id:`, a sequence number
 *   increasing by one per event for the whole process, so a client that sees a jump knows it
 *   missed something and refetches the JSON endpoints.
 * - `hello()` is the first message of a connection (`{"seq": <last id sent>, "metrics": {...}}`,
 *   no id), valid once `ready` has resolved (the poller has its baseline): events after it are
 *   exactly what changed since.
 * - The poller runs only while someone is subscribed (every `intervalMs`); `beforePoll` runs
 *   first on each tick (the transport samples its sockets there).
 */
import { toView } from "../../domain/transaction.ts";
import type { ApiStore } from "../store.ts";

export interface SourceOptions {
  /** Poll period while subscribed, ms. */
  intervalMs?: number;
  /** Newest transactions read per poll. */
  latestLimit?: number;
  /** A comment line is sent after this long without events (keeps proxies from closing), ms. */
  keepAliveMs?: number;
  /** Pipeline gauges are read every this many polls. */
  healthEvery?: number;
}

export type Listener = (text: string) => void;

const MINUTE_MS = 60_000;
export const MINUTES_WATCHED = 3;
const HASHES_KEPT = 5_000;
const HEALTH_FIELDS = /last_message_at|reconnect|dropped|lag|supervisor_restarts/;

const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
const hhmm = (ms: number) => `${pad(new Date(ms).getUTCHours())}:${pad(new Date(ms).getUTCMinutes())}`;

export class EventSourcePoller {
  readonly intervalMs: number;
  readonly latestLimit: number;
  private readonly keepAliveMs: number;
  private readonly healthEvery: number;
  private readonly listeners = new Set<Listener>();
  private seq = 0;
  private polls = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The first read after the poller starts. */
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
    opts: SourceOptions = {},
    private readonly beforePoll: () => void = () => {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.latestLimit = Math.max(1, opts.latestLimit ?? 100);
    this.keepAliveMs = opts.keepAliveMs ?? 15_000;
    this.healthEvery = opts.healthEvery ?? 5;
  }

  get lastSeq(): number {
    return this.seq;
  }

  get pollCount(): number {
    return this.polls;
  }

  /** Resolves once the baseline is read (at once when not polling). */
  get ready(): Promise<void> {
    return this.baseline ?? Promise.resolve();
  }

  /** The first message of a connection (valid after `ready`). */
  hello(): string {
    return `retry: 2000\nevent: hello\ndata: ${JSON.stringify({ seq: this.seq, metrics: this.gauges })}\n\n`;
  }

  /** Starts the poller if needed; returns the unsubscribe function (the poller stops with the last). */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    this.start();
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.stop();
    };
  }

  /** Stops polling and forgets every subscriber. */
  close(): void {
    this.listeners.clear();
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
        if (this.listeners.size) tick();
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

  private emit(text: string): void {
    for (const listener of [...this.listeners]) listener(text);
  }

  private broadcast(event: string, data: unknown): void {
    const id = ++this.seq;
    this.emit(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
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
        if (emit) this.broadcast("tx", toView(tx));
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
    if (this.listeners.size && now - this.lastSentAt >= this.keepAliveMs) {
      this.emit(": keep-alive\n\n");
      this.lastSentAt = now;
    }
  }
}
