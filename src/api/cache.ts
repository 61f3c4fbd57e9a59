/**
 * Rendered answers: each answer's JSON text and ETag made once and sent as the same string to
 * every request that shares it. Which readings are kept, and for how long, is fresh.ts's.
 */
import { createHash } from "node:crypto";

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

/** Answers made from one reading, by what they depend on besides it (a limit, the flags): at most `max`, the oldest go first. */
export class Renders<T> {
  private readonly made = new Map<string, T>();

  constructor(private readonly max = 16) {}

  of(key: string, make: () => T): T {
    let hit = this.made.get(key);
    if (hit === undefined) {
      hit = make();
      if (this.made.size >= this.max) this.made.delete(this.made.keys().next().value as string);
      this.made.set(key, hit);
    }
    return hit;
  }
}

/**
 * A list answer read once at its largest size and sliced per request: `?limit=1..1000` shares
 * one read (cycling the limit cannot buy a Redis read per request). Each item is serialized
 * once; an answer is the JSON of `{ ...head, [key]: first n items }`, the list's text spliced in.
 */
export class Sliced<T> {
  private readonly parts: string[];
  private readonly answers = new Renders<Rendered<unknown>>(16);

  constructor(
    readonly items: readonly T[],
    /** The property of the answer that holds the items. */
    private readonly key: string,
    /** Each item's JSON text, when already known. */
    texts?: readonly string[],
  ) {
    this.parts = texts ? [...texts] : items.map((item) => JSON.stringify(item));
  }

  /** The answer with the first `n` items under `head` (the other fields: the flag...), its text built once per n and head. */
  take(n: number, head: Record<string, unknown>): Rendered<unknown> {
    const count = Math.min(n, this.items.length);
    // The other fields serialized as usual, the list from its items' text (in its place: same property order).
    const headText = JSON.stringify({ ...head, [this.key]: LIST });
    return this.answers.of(
      `${count} ${headText}`,
      () =>
        new Rendered(
          { ...head, [this.key]: this.items.slice(0, count) },
          headText.replace(`"${LIST}"`, () => `[${this.parts.slice(0, count).join(",")}]`),
        ),
    );
  }
}
