/**
 * Dead letters: the raw payload and the reason, on `<TOPIC>.dlq`.
 *
 * Value: the raw payload as received (bytes, unchanged). Headers: `source` (feed, or the
 * consumer group), `reason`, `at` (unix ms), and for Kafka input the original topic, partition
 * and offset. The raw bytes stay untouched so a person (or a fix-and-replay tool) sees exactly
 * what arrived.
 */
import type { Message } from "kafkajs";

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
