/**
 * Answers as fresh as Redis, and still cheap (issue 19): invalidate on write, not on time.
 *
 * Every script that writes a projection's figures or progress sets the projection's version in
 * the same atomic call (src/redis/keys.ts `versionKey`, lua/includes/bumpVersion.lua). The API
 * keeps each answer's reading with the version it was read at:
 *
 *   - **Checks.** A request first takes the versions of every projection, and the producers'
 *     held reports, from a shared check: one round trip of small GETs, started at most once per
 *     `checkMs`, and taken by requests until it is `reuseMs` old. With no writes, that is all the
 *     API reads.
 *   - **Re-reads.** An answer whose projection's version moved is read again; every request
 *     waiting for it shares the one read.
 *   - **Coalesced.** Within `coalesceMs` of an answer's last read, it is served even though the
 *     version moved: a burst of writes costs one read per window, not one per write.
 *
 * So an answer reflects every write Redis acknowledged `reuseMs + coalesceMs` (50 ms, plus one
 * read) before the request. The window edges (a new minute, the 3-hour window, the current hour) are
 * part of an answer's key, and the `complete` flag is judged at each request from the coverage
 * read with the figures (completeness.ts): a consumer that stops writes nothing, and its answers
 * turn `behind` on time all the same.
 *
 * Failed checks and reads are not kept: the next request tries again (a 503 meanwhile).
 */
import { type Held, heldAt } from "../domain/coverage.ts";
import type { Check } from "./store.ts";

/** How often, at most, the versions are checked. */
export const CHECK_MS = 5;
/**
 * How old, at most, the last answered check a request takes while the next one is under way. A
 * request that waits for a round trip costs the API about twice the CPU of one answered at once
 * (Bun writes a response that was not ready in the request's own tick through a slower, buffered
 * path): waiting on every check halved /show_transactions/'s throughput under load, when the event
 * loop holds each round trip longer than CHECK_MS.
 */
export const REUSE_MS = 30;
/** How long, at most, an answer is served after its projection's version moved. */
export const COALESCE_MS = 20;

/** An age within a window; a clock that went back (a negative age) is past it. */
const within = (ageMs: number, windowMs: number) => ageMs >= 0 && ageMs < windowMs;

export interface FreshOptions {
  /** false: every request reads Redis (tests that write keys by hand, without the scripts). Default true. */
  shared?: boolean;
  checkMs?: number;
  /** How old, at most, the last answered check a request takes while the next one is under way. */
  reuseMs?: number;
  coalesceMs?: number;
}

/** What /metrics counts of it (src/api/metrics/http.ts). */
export interface FreshCounters {
  check(): void;
  reading(role: string): void;
}

/** The moment a request is answered at: the clock, and what the producers hold then. */
export interface Moment {
  nowMs: number;
  /** What the producers hold, or held long and Kafka has taken since. */
  held: Held;
}

/** An answer's reading and the moment of the request it serves. */
export interface Served<T> {
  value: T;
  moment: Moment;
  /** The projection's version the reading was taken at (read before it). */
  version: string;
}

export class Freshness {
  readonly shared: boolean;
  private readonly checkMs: number;
  private readonly reuseMs: number;
  private readonly coalesceMs: number;
  /** The check under way, and the last one answered (each with when it started). */
  private pending?: { at: number; check: Promise<Check> };
  private done?: { at: number; value: Check };

  constructor(
    /** One round trip: every projection's version and the producers' held reports (store.ts). */
    private readonly read: () => Promise<Check>,
    readonly now: () => number,
    options: FreshOptions = {},
    readonly counters: FreshCounters = { check() {}, reading() {} },
  ) {
    this.shared = options.shared ?? true;
    this.checkMs = this.shared ? (options.checkMs ?? CHECK_MS) : 0;
    this.reuseMs = this.shared ? Math.max(this.checkMs, options.reuseMs ?? REUSE_MS) : 0;
    this.coalesceMs = this.shared ? (options.coalesceMs ?? COALESCE_MS) : 0;
  }

  /**
   * The versions from a check started at most `checkMs` ago (one shared check). Past that, a new
   * check starts, and while it is under way a request takes the last answered check if it started
   * at most `reuseMs` ago: under load, no request waits for a round trip (REUSE_MS). Only a request
   * after a pause (the last check older than `reuseMs`) waits for the one under way.
   */
  check(): Promise<Check> {
    const at = this.now();
    if (this.done && within(at - this.done.at, this.checkMs)) return Promise.resolve(this.done.value);
    if (!this.pending) {
      this.counters.check();
      const started = { at, check: this.read() };
      this.pending = started;
      started.check.then(
        (value) => {
          if (!this.done || this.done.at <= started.at) this.done = { at: started.at, value };
          if (this.pending === started) this.pending = undefined;
        },
        () => {
          if (this.pending === started) this.pending = undefined;
        },
      );
    }
    if (this.done && within(at - this.done.at, this.reuseMs)) return Promise.resolve(this.done.value);
    return this.pending.check;
  }

  /** The moment of a request, from a check (the clock read now). */
  momentOf(check: Check): Moment {
    const nowMs = this.now();
    return { nowMs, held: heldAt(check.held, nowMs) };
  }

  /** A cache of one projection's readings, `maxEntries` keys at most (the oldest go first). */
  cache<T>(role: string, maxEntries: number): AnswerCache<T> {
    return new AnswerCache<T>(this, role, maxEntries, this.coalesceMs);
  }
}

interface Entry<T> {
  version: string;
  /** When its read started (the clock). */
  at: number;
  value: Promise<T>;
}

/** Readings of one projection by key, each kept until the projection's version moves (see above). */
export class AnswerCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly fresh: Freshness,
    private readonly role: string,
    private readonly maxEntries: number,
    private readonly coalesceMs: number,
  ) {}

  async get(key: string, read: () => Promise<T>): Promise<Served<T>> {
    const check = await this.fresh.check();
    const version = check.versions.get(this.role) ?? "";
    const moment = this.fresh.momentOf(check);
    if (!this.fresh.shared) {
      this.fresh.counters.reading(this.role);
      return { value: await read(), moment, version };
    }
    let entry = this.entries.get(key);
    if (!entry || (entry.version !== version && !within(moment.nowMs - entry.at, this.coalesceMs))) {
      this.fresh.counters.reading(this.role);
      entry = { version, at: moment.nowMs, value: read() };
      this.put(key, entry);
      const mine = entry;
      entry.value.catch(() => {
        if (this.entries.get(key) === mine) this.entries.delete(key);
      });
    }
    return { value: await entry.value, moment, version: entry.version };
  }

  private put(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}
