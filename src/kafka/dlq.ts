/**
 * Dead letters, one place: their format, the one rule that cuts a letter too large for Kafka,
 * and the chunking of a consumer's letters into requests. The topic's name is in ./client.ts.
 *
 * Value: the raw payload as received (bytes, unchanged). Headers: `source` (feed, or the
 * consumer group), `reason`, `at` (unix ms), and for Kafka input the original topic, partition
 * and offset. The raw bytes stay untouched so a person (or a fix-and-replay tool) sees exactly
 * what arrived; only a payload above what Kafka takes is cut, and then says its full size.
 */
import type { Message, Producer } from "kafkajs";

export interface DeadLetter {
  /** `feed`, or the consumer group id that refused the record. */
  source: string;
  reason: string;
  raw: Buffer | string | null;
  origin?: { topic: string; partition: number; offset: string };
}

/** Reasons longer than this are cut: a reason describes, it does not carry the payload. */
const MAX_REASON = 500;

export function deadLetterMessage(letter: DeadLetter, now = Date.now()): Message {
  const headers: Record<string, string> = {
    source: letter.source,
    reason: letter.reason.slice(0, MAX_REASON),
    at: String(now),
  };
  if (letter.origin) {
    headers.topic = letter.origin.topic;
    headers.partition = String(letter.origin.partition);
    headers.offset = letter.origin.offset;
  }
  return { value: letter.raw, headers };
}

/**
 * The header in which a cut letter says its payload's full size. Two names for the one fact, as
 * readers of the topic know them: the producer cuts a feed frame before sending (`raw_bytes`), a
 * consumer cuts a letter only once Kafka refused it as too large (`truncated_from_bytes`).
 */
export type CutHeader = "raw_bytes" | "truncated_from_bytes";

/**
 * The one truncation rule: a letter whose payload is above `maxBytes` keeps its first `maxBytes`
 * bytes and says its full size in `header`; one that fits is returned as it is. The cut is a copy,
 * so a letter waiting for Kafka does not keep the whole payload alive, and a text payload is never
 * encoded whole (only its first `maxBytes + 1` characters).
 */
export function cutDeadLetter(letter: Message, maxBytes: number, header: CutHeader): Message {
  const raw = letter.value ?? "";
  const size = typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
  if (size <= maxBytes) return letter;
  // One character more than needed: a surrogate pair cut in two would change the last bytes kept.
  const head = typeof raw === "string" ? Buffer.from(raw.slice(0, maxBytes + 1)) : raw;
  const cut = Buffer.alloc(maxBytes);
  head.copy(cut, 0, 0, maxBytes);
  return { ...letter, value: cut, headers: { ...letter.headers, [header]: String(size) } };
}

/** Kafka's default request limit is 1 MB: a consumer's dead letters go in requests well under it. */
const REQUEST_BYTES = 512 * 1024;
/** A single dead letter Kafka refuses as too large even alone keeps this much of its payload. */
const REFUSED_KEEP_BYTES = 256 * 1024;

/**
 * Sends a consumer's dead letters to `topic`, acknowledged by all in-sync replicas, in requests of
 * at most about REQUEST_BYTES. A letter Kafka refuses as too large is cut (REFUSED_KEEP_BYTES) and
 * sent again; any other failure is thrown, and the caller sends the letters again.
 */
export async function sendDeadLetters(producer: Producer, topic: string, messages: Message[]): Promise<void> {
  const size = (m: Message) => (m.value?.length ?? 0) + 512;
  let chunk: Message[] = [];
  let bytes = 0;
  const flush = async () => {
    if (!chunk.length) return;
    try {
      await producer.send({ topic, acks: -1, messages: chunk });
    } catch (err) {
      const only = chunk[0];
      if (chunk.length !== 1 || !only || (err as { type?: string }).type !== "MESSAGE_TOO_LARGE") throw err;
      await producer.send({ topic, acks: -1, messages: [cutDeadLetter(only, REFUSED_KEEP_BYTES, "truncated_from_bytes")] });
    }
    chunk = [];
    bytes = 0;
  };
  for (const m of messages) {
    if (chunk.length && bytes + size(m) > REQUEST_BYTES) await flush();
    chunk.push(m);
    bytes += size(m);
  }
  await flush();
}
