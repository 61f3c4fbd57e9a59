/**
 * Kafka helpers shared by the tests that write records directly and wait for the consumer
 * groups: topic creation, an idempotent writer that says where each record went, "has every
 * group committed the end of the topic", and a reader of a whole topic.
 */
import type { IHeaders, Kafka, Message } from "kafkajs";
import type { Config } from "../../src/domain/config.ts";
import type { Transaction } from "../../src/domain/transaction.ts";
import { bounded, waitFor } from "./env.ts";

export async function createTopic(kafka: Kafka, config: Pick<Config, "TOPIC">): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, timeout: 30_000, topics: [{ topic: config.TOPIC, numPartitions: 3 }] });
  await admin.disconnect();
}

/** A transaction as the producer writes it: keyed by hash, partition minute(time) mod 3. */
export const txMessage = (tx: Transaction) => ({ key: tx.hash, value: JSON.stringify(tx), partition: Math.floor(tx.time / 60) % 3 });

/** Writes messages (partition set) with an idempotent producer; returns each message's offset. */
export async function produce(kafka: Kafka, topic: string, messages: (Message & { partition: number })[]): Promise<string[]> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const offsets: string[] = new Array(messages.length);
  for (const partition of [0, 1, 2]) {
    const mine = messages.map((m, i) => [m, i] as const).filter(([m]) => m.partition === partition);
    // Under the broker's 1 MB request limit.
    for (let from = 0; from < mine.length; from += 500) {
      const slice = mine.slice(from, from + 500);
      const [meta] = await producer.send({ topic, acks: -1, messages: slice.map(([m]) => m) });
      slice.forEach(([, i], k) => {
        offsets[i] = String(BigInt(meta?.baseOffset ?? "0") + BigInt(k));
      });
    }
  }
  await producer.disconnect();
  return offsets;
}

/** Records the group has committed on `topic`, all partitions together. */
export async function committedTotal(kafka: Kafka, topic: string, groupId: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (offsets?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Whether every group has committed the end of every partition of `topic`. */
export async function caughtUp(kafka: Kafka, topic: string, groupIds: readonly string[]): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const end = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    for (const groupId of groupIds) {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      if ((offsets?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) < end) return false;
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

/** Resolves when every group has committed the end of every partition of `topic`. */
export async function waitCommitted(kafka: Kafka, topic: string, groupIds: readonly string[], timeoutMs: number): Promise<void> {
  await waitFor(`groups ${groupIds.join(", ")} to commit the end of ${topic}`, () => caughtUp(kafka, topic, groupIds), timeoutMs);
}

export interface ReadRecord {
  partition: number;
  key: string;
  value: Buffer;
  headers: IHeaders;
}

/**
 * Every record of `topic`, exactly `count` of them (the end offsets must add up to it), read by a
 * consumer of a group of its own. A kafkajs consumer inside the test process has been seen to
 * stall for good late in a run (a socket stuck connecting): an attempt that delivers nothing new
 * for `stallMs` is dropped and a new consumer reads from the start, up to three times.
 */
export async function readTopic(kafka: Kafka, topic: string, count: number, stallMs = 20_000): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const size = async () => (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  try {
    await waitFor(`${count} records on ${topic}`, async () => (await size()) >= count, 60_000);
    const held = await size();
    if (held !== count) throw new Error(`${topic} holds ${held} records, not ${count}`);
  } finally {
    await bounded(`disconnecting the admin of ${topic}`, () => admin.disconnect(), 10_000);
  }
  for (let attempt = 1; ; attempt++) {
    const records = await readOnce(kafka, topic, count, stallMs);
    if (records.length >= count) return records;
    if (attempt === 3) throw new Error(`read ${records.length} of ${count} records of ${topic}, three consumers in a row stalling`);
    console.error(`readTopic: ${topic}: ${records.length} of ${count} records, then nothing for ${stallMs} ms; reading again with a new consumer`);
  }
}

async function readOnce(kafka: Kafka, topic: string, count: number, stallMs: number): Promise<ReadRecord[]> {
  // A short fetch wait: disconnect waits for the fetch in flight.
  const consumer = kafka.consumer({ groupId: `read-${topic}-${Math.random()}`, maxWaitTimeInMs: 100 });
  const records: ReadRecord[] = [];
  let lastAt = Date.now();
  try {
    const started = (async () => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          records.push({ partition, key: message.key?.toString() ?? "", value: message.value ?? Buffer.alloc(0), headers: message.headers ?? {} });
          lastAt = Date.now();
        },
      });
    })();
    started.catch(() => {}); // a start that fails shows as a stall below
    while (records.length < count && Date.now() - lastAt < stallMs) await Bun.sleep(100);
    return records;
  } finally {
    await bounded(`disconnecting the reader of ${topic}`, () => consumer.disconnect(), 10_000);
  }
}
