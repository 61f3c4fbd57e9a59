/**
 * The spike of issue 20: kafkajs 2.2.4 over Bun's TLS with SASL/SCRAM-SHA-512, against a real
 * Kafka 4.1 broker whose only client listener is SASL_SSL (tools/infra/kafka.ts `security`), with
 * a CA and certificates generated for the run: the broker of the run's secure stack
 * (tools/testkit/secure.ts). What the pipeline uses: admin, an idempotent producer, a consumer
 * group that commits.
 */
import { beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CompressionTypes, Kafka, logLevel } from "kafkajs";
import { clientSecurity, type LocalKafka } from "../tools/infra/kafka.ts";
import { secureStack } from "../tools/testkit/secure.ts";
import { waitFor } from "./helpers/env.ts";

setDefaultTimeout(120_000);

let broker: LocalKafka;

beforeAll(async () => {
  broker = (await secureStack()).kafka;
});

test("the broker has no plaintext client listener; its controller listener is on localhost only", () => {
  const props = readFileSync(join(broker.nodes[0]?.dataDir ?? "", "server.properties"), "utf8");
  const listeners = /^listeners=(.*)$/m.exec(props)?.[1]?.split(",") ?? [];
  expect(listeners).toEqual([`SASL_SSL://localhost:${broker.nodes[0]?.port}`, `CONTROLLER://localhost:${broker.nodes[0]?.controllerPort}`]);
  expect(props).toMatch(/^listener\.security\.protocol\.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL$/m);
});

test("kafkajs on Bun over TLS with SCRAM-SHA-512: admin, idempotent producer, consumer group", async () => {
  const kafka = new Kafka({
    clientId: "secure-spike",
    brokers: [broker.brokers],
    logLevel: logLevel.NOTHING,
    ...clientSecurity(broker.security as NonNullable<LocalKafka["security"]>),
  });
  const topic = "secure-spike";
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true, timeout: 30_000 });
  expect((await admin.describeCluster()).brokers.map((b) => b.port)).toEqual([broker.nodes[0]?.port as number]);

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent = Array.from({ length: 2_000 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i }), partition: i % 3 }));
  for (let i = 0; i < sent.length; i += 500) {
    await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: sent.slice(i, i + 500) });
  }
  await producer.disconnect();

  const groupId = "secure-spike-group";
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
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
  await waitFor("2,000 records over SASL_SSL", () => seen.length >= sent.length, 60_000);
  await consumer.disconnect();

  expect(seen.sort((a, b) => a - b)).toEqual(sent.map((_, i) => i));
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  expect(offsets[0]?.partitions.map((p) => Number(p.offset)).reduce((a, b) => a + b, 0)).toBe(sent.length);
  await admin.disconnect();
});
