/**
 * gzip for kafkajs without its callback-based node:zlib calls, installed in kafkajs' codec table
 * (one per process) when this module loads; src/kafka/client.ts loads it, so every role and tool
 * has it. kafkajs' own codec goes through Bun's JS stream glue: about 50 µs of CPU a record batch
 * to decompress (11% of a consumer's CPU at 100 tx/s, where nearly every fetched batch holds one
 * record), and at level 6 the largest single cost of publishing.
 *
 * - compress: Bun.gzipSync at level 1 (a ratio of 1.7 instead of 2.3 on these records, for
 *   about a third of level 6's CPU). zlib.gzipSync took 17 µs of producer CPU a transaction in
 *   bench/producer.bench.ts against 15 for Bun's.
 * - decompress: zlib.unzipSync, 2 µs for a batch of one record. Not Bun.gunzipSync, as fast but
 *   in Bun 1.3.14 200,000 calls took the RSS from 60 to 306 MB (Bun.gc(true) gave none of it
 *   back), where zlib.unzipSync stays under 70 MB.
 *
 * Still gzip on the wire: any Kafka client reads and writes these records unchanged.
 */
import { unzipSync } from "node:zlib";
import { CompressionCodecs, CompressionTypes } from "kafkajs";

CompressionCodecs[CompressionTypes.GZIP] = () => ({
  compress: async (encoder: { buffer: Uint8Array<ArrayBuffer> }) => {
    const zipped = Bun.gzipSync(encoder.buffer, { level: 1 });
    return Buffer.from(zipped.buffer, zipped.byteOffset, zipped.byteLength);
  },
  decompress: async (buffer: Buffer) => unzipSync(buffer),
});
