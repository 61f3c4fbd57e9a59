/**
 * kafkajs on Bun against the real broker: the features the pipeline depends on.
 */
import { expect, test } from "bun:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
// Every role makes its Kafka clients there, which installs src/kafka/gzip.ts.
import "../src/kafka/client.ts";
import { testEnv, waitFor } from "./helpers/env.ts";

const { kafka, config } = testEnv();

test("idempotent gzip producer -> consumer group that commits offsets", async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: config.TOPIC, numPartitions: 3 }], waitForLeaders: true, timeout: 30_000 });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent = Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i }), partition: i % 3 }));
  await producer.send({ topic: config.TOPIC, acks: -1, compression: CompressionTypes.GZIP, messages: sent });
  await producer.disconnect();

  const groupId = `${config.GROUP_PREFIX}roundtrip`;
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic: config.TOPIC, fromBeginning: true });
  const seen: number[] = [];
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      for (const m of batch.messages) {
        seen.push(JSON.parse(m.value?.toString() ?? "{}").i);
        resolveOffset(m.offset);
      }
      await commitOffsetsIfNecessary();
    },
  });
  await waitFor("300 records", () => seen.length >= 300);
  await consumer.disconnect();

  expect(seen.sort((a, b) => a - b)).toEqual(sent.map((_, i) => i));
  const offsets = await admin.fetchOffsets({ groupId, topics: [config.TOPIC] });
  const committed = offsets[0]?.partitions.map((p) => Number(p.offset)).reduce((a, b) => a + b, 0);
  expect(committed).toBe(300);
  await admin.disconnect();
});

test("the gzip codec every role installs (src/kafka/gzip.ts) reads and writes what other gzip clients do", async () => {
  const codec = CompressionCodecs[CompressionTypes.GZIP]();
  const records = Buffer.from(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ hash: `h${i}`, value: i }))));
  // Written by another client (node:zlib's default level, as kafkajs' own codec or a Java producer writes it).
  expect(Buffer.from(await codec.decompress(gzipSync(records)))).toEqual(records);
  // Written here: Bun.gzipSync at level 1 (kafkajs: node:zlib at level 6), plain gzip all the same.
  const ours = await codec.compress({ buffer: records } as never);
  expect(ours).toEqual(Buffer.from(Bun.gzipSync(records, { level: 1 })));
  expect(ours.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  expect(ours.length).toBeLessThan(records.length);
  expect(gunzipSync(ours)).toEqual(records);
});
