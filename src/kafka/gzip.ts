/**
 * gzip for kafkajs with node:zlib's synchronous calls, installed in kafkajs' codec table (one per
 * process) when this module loads; src/kafka/client.ts loads it, so every role and tool has it.
 *
 * kafkajs' own codec calls node:zlib's callback API, which Bun runs through its JS stream glue:
 * about 50 µs of CPU a record batch to decompress, 11% of a consumer's CPU at 100 tx/s (nearly
 * every fetched batch then holds one record), and the largest single cost of publishing. The
 * synchronous calls take 2 µs to decompress and 5 µs to compress such a batch. Not Bun.gzipSync
 * and Bun.gunzipSync, as fast but in Bun 1.3.14 they keep memory: 200,000 calls grew the RSS by
 * 70 MB (compress) and 240 MB (decompress), where node:zlib's stay flat. Compression is level 1:
 * a ratio of 1.7 instead of 2.3 on these records, for about a third of level 6's CPU.
 *
 * Still gzip on the wire: any Kafka client reads and writes these records unchanged.
 */
import { gzipSync, unzipSync } from "node:zlib";
import { CompressionCodecs, CompressionTypes } from "kafkajs";

CompressionCodecs[CompressionTypes.GZIP] = () => ({
  compress: async (encoder: { buffer: Buffer }) => gzipSync(encoder.buffer, { level: 1 }),
  decompress: async (buffer: Buffer) => unzipSync(buffer),
});
