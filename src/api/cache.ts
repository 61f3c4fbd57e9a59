/**
 * A small read-through cache for the hot endpoints.
 *
 * - An answer is reused for `ttlMs`; concurrent misses of one key share a single read (no
 *   thundering herd on Redis).
 * - Stale while revalidate: for another `ttlMs` after that, the old answer is still served while
 *   one background read replaces it, so under steady traffic no request waits for Redis. An
 *   answer is thus at most 2 × `ttlMs` old (plus the read's own time); past that, or after a
 *   failed read, callers wait for a fresh read.
 * - `ttlMs` 0 turns it off: every call reads. Failed reads are never cached.
 */
import { createHash } from "node:crypto";

export class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    /** Entries kept at most; the oldest go first. */
    private readonly maxEntries = 64,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    if (this.ttlMs <= 0) return load();
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit) {
      const age = now - hit.at;
      if (age < this.ttlMs) return hit.value;
      if (hit.ready && age < 2 * this.ttlMs) {
        if (!hit.refreshing) this.refresh(key, hit, load, now);
        return hit.value;
      }
    }
    return this.load(key, load, now);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Reads now; every caller until it settles shares the read. */
  private load(key: string, load: () => Promise<T>, now: number): Promise<T> {
    const value = load();
    const entry: Entry<T> = { at: now, value, ready: false, refreshing: false };
    this.put(key, entry);
    value.then(
      () => {
        entry.ready = true;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }

  /** Reads in the background; the stale entry is served until the new answer is in. */
  private refresh(key: string, stale: Entry<T>, load: () => Promise<T>, now: number): void {
    stale.refreshing = true;
    load().then(
      (fresh) => {
        if (this.entries.get(key) === stale) this.put(key, { at: now, value: Promise.resolve(fresh), ready: true, refreshing: false });
      },
      () => {
        stale.refreshing = false;
      },
    );
  }

  private put(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}

interface Entry<T> {
  /** When the read that produced `value` started. */
  at: number;
  value: Promise<T>;
  /** `value` has resolved (a pending read is never served as stale). */
  ready: boolean;
  /** A background read is under way. */
  refreshing: boolean;
}

/**
 * An answer and its JSON text, serialized once: a cached answer is sent as the same string to
 * every request that shares it, instead of being serialized (and checked) per request. Its ETag
 * is hashed once too, from that text (respond.ts sends both).
 */
export class Rendered<T> {
  private tag?: string;

  constructor(
    readonly value: T,
    /** Its JSON text when already known (it must be `JSON.stringify(value)`). */
    private text?: string,
  ) {}
  get json(): string {
    this.text ??= JSON.stringify(this.value);
    return this.text;
  }
  /** The strong entity tag of the JSON text (`etagOf`), computed on first use. */
  get etag(): string {
    this.tag ??= etagOf(this.json);
    return this.tag;
  }
}

/**
 * A strong entity tag (RFC 9110 §8.8.3) for a body: its SHA-256 in base64url, cut to 22
 * characters (132 bits), in quotes. Bodies that differ get different tags (collisions aside,
 * about one in 2^132).
 */
export const etagOf = (body: string): string => `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;

/** Stands for the list while the rest of an answer is serialized (no other field holds this text). */
const LIST = "@@list@@";

/**
 * A list answer read once at its largest size and sliced per request: `?limit=1..1000` shares
 * one read (cycling the limit cannot buy a Redis read per request). Each item is serialized
 * once; an answer is the JSON of `wrap(first limit items)` with the list's text spliced in.
 */
export class Sliced<T> {
  private readonly parts: string[];
  private readonly answers = new Map<number, Rendered<unknown>>();

  constructor(
    readonly items: readonly T[],
    /** The answer for the first n items (its other fields can depend on them: the completeness of the list). */
    private readonly wrap: (items: readonly T[]) => Record<string, unknown>,
    /** The property of the answer that holds the items. */
    private readonly key: string,
  ) {
    this.parts = items.map((item) => JSON.stringify(item));
  }

  /** The answer with the first `limit` items (its text built once per limit, a few kept). */
  take(limit: number): Rendered<unknown> {
    const n = Math.min(limit, this.items.length);
    let hit = this.answers.get(n);
    if (!hit) {
      const value = this.wrap(this.items.slice(0, n));
      // The other fields serialized as usual, the list from its items' text (in its place: same property order).
      const text = JSON.stringify({ ...value, [this.key]: LIST }).replace(`"${LIST}"`, () => `[${this.parts.slice(0, n).join(",")}]`);
      hit = new Rendered(value, text);
      if (this.answers.size >= 8) this.answers.delete(this.answers.keys().next().value as number);
      this.answers.set(n, hit);
    }
    return hit;
  }
}
