/**
 * gzip for kafkajs with Bun's native zlib, installed in kafkajs' codec table (one per process)
 * when this module loads; src/kafka/client.ts loads it, so every role and tool has it.
 *
 * - compress: level 1. kafkajs' own codec (node:zlib, level 6, through Bun's JS stream glue)
 *   was the largest single cost of publishing: about 3x the CPU, for a ratio of 2.3 instead of
 *   1.7 on these records.
 * - decompress: the same glue was 11% of a consumer's CPU at 100 tx/s, where nearly every fetched
 *   batch holds one record (a zlib stream set up for each).
 *
 * Still gzip on the wire: any Kafka client reads and writes these records unchanged.
 */
import { CompressionCodecs, CompressionTypes } from "kafkajs";

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

CompressionCodecs[CompressionTypes.GZIP] = () => ({
  compress: async (encoder: { buffer: Uint8Array<ArrayBuffer> }) => asBuffer(Bun.gzipSync(encoder.buffer, { level: 1 })),
  decompress: async (buffer: Buffer<ArrayBuffer>) => asBuffer(Bun.gunzipSync(buffer)),
});
