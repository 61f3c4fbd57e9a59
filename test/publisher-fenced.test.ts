/**
 * The producer replaces itself when Kafka refuses its idempotent sequence (a broker that lost the
 * producer's state: OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH),
 * instead of retrying the same sequence for ever. A load-dependent run of test/faults.test.ts
 * showed that loop: every retry refused for 5 minutes after a broker restart. This checks which
 * errors kafkajs raises count as such, with kafkajs's own error classes and the broker's error
 * codes and messages (kafkajs/src/protocol/error.js); the other errors stay plain retries.
 */
import { describe, expect, test } from "bun:test";
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from "kafkajs";
import { isFenced } from "../src/producer/publisher.ts";

/** A protocol error as kafkajs builds it from the broker's error code. */
const ERRORS: Record<number, { type: string; message: string }> = {
  3: { type: "UNKNOWN_TOPIC_OR_PARTITION", message: "This server does not host this topic-partition" },
  6: { type: "NOT_LEADER_FOR_PARTITION", message: "For requests intended only for the leader, this error indicates that the broker is not the current leader" },
  7: { type: "REQUEST_TIMED_OUT", message: "The request timed out" },
  45: { type: "OUT_OF_ORDER_SEQUENCE_NUMBER", message: "The broker received an out of order sequence number" },
  47: { type: "INVALID_PRODUCER_EPOCH", message: "Producer attempted an operation with an old epoch" },
  59: { type: "UNKNOWN_PRODUCER_ID", message: "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question" },
};
const createErrorFromCode = (code: number) => new KafkaJSProtocolError({ ...(ERRORS[code] as { type: string; message: string }), code } as unknown as Error);

describe("a refused producer sequence", () => {
  test("the broker's refusals of the sequence, as kafkajs raises them, bare or wrapped in its retries, replace the producer", () => {
    // 45 OUT_OF_ORDER_SEQUENCE_NUMBER, 59 UNKNOWN_PRODUCER_ID, 47 INVALID_PRODUCER_EPOCH.
    for (const code of [45, 59, 47]) {
      const refused = createErrorFromCode(code);
      expect({ code, fenced: isFenced(refused) }).toEqual({ code, fenced: true });
      expect({ code, fenced: isFenced(new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 5000 })) }).toEqual({ code, fenced: true });
    }
  });

  test("an outage or another protocol error is retried with the same producer", () => {
    expect(isFenced(new KafkaJSConnectionError("Connection error: ECONNREFUSED"))).toBe(false);
    for (const code of [6, 7, 3]) expect({ code, fenced: isFenced(createErrorFromCode(code)) }).toEqual({ code, fenced: false });
    expect(isFenced(new Error("socket hang up"))).toBe(false);
  });
});
