/**
 * A consumer's coverage vouches for no stamp a running producer may still be sending
 * (src/domain/coverage.ts `stampedBefore`, src/consumers/positions.ts): with a producer's report
 * planted in Redis (what src/producer/producer.ts writes every second), a consumer that is level
 * with the log applies new records, and `through_ms` stays before the report's stamp; neither its
 * samples of the log nor the last record it applied (outside a replay) move it. Once the report
 * goes, `through_ms` moves on. One consumer process of a projection that is not sharded, from the
 * registry.
 */
import { afterAll, expect, test } from "bun:test";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { positionField, positionKey, producerHeldKey, replayKey } from "../src/redis/keys.ts";
import { parseHeldReport } from "../src/redis/read.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import { testEnv, waitFor } from "./helpers/env.ts";
import { createTopic, produce, txMessage } from "./helpers/kafka.ts";
import { Pipeline } from "./helpers/pipeline.ts";

const env = testEnv();
const { config, kafka, redis } = env;
const spec = PROJECTIONS.find((p) => !p.sharded);
if (!spec) throw new Error("the registry has no projection in one shard");
const pipeline = new Pipeline(env, "coverage-producers");
afterAll(() => pipeline.stop());

const PARTITIONS = [0, 1, 2];
const fields = PARTITIONS.map((p) => positionField(config.TOPIC, p));
/** Per partition: the position, the coverage's `through_ms` and the marker's offset. */
async function progress() {
  const positions = await redis.hmget(positionKey(config, spec as NonNullable<typeof spec>), ...fields);
  const replay = await redis.hmget(replayKey(config, spec as NonNullable<typeof spec>), ...fields.flatMap((f) => [`${f}:through_ms`, `${f}:marker`]));
  return PARTITIONS.map((p) => ({
    position: positions[p] === null ? null : Number(positions[p]),
    throughMs: replay[2 * p] == null ? null : Number(replay[2 * p]),
    markerOffset: replay[2 * p + 1] == null ? null : (JSON.parse(replay[2 * p + 1] as string) as { offset: number }).offset,
  }));
}

test("while a producer reports a stamp it may still be sending, through_ms stays before it; once the report goes it moves on", async () => {
  await createTopic(kafka, config);
  pipeline.spawn(`consumer-${spec.role}`);
  // Level with the (empty) log: every partition covered through about now.
  await waitFor("the consumer level with the empty log", async () => (await progress()).every((p) => p.position === 0 && p.throughMs !== null));

  // A producer's report, kept fresh: everything it has not had acknowledged is stamped after `held`.
  const plantedAt = Date.now();
  const held = plantedAt - 60_000;
  const report = () => redis.hset(producerHeldKey(config), "test-producer", JSON.stringify({ held_since_ms: held, written_ms: Date.now() }));
  await report();
  const refresh = setInterval(report, 500);
  try {
    // A tick that read the reports before this one came still samples the log before it (one
    // round trip later): the records come well after that, so a sample that vouched for them would
    // be past `plantedAt + 1 s`.
    await Bun.sleep(2_500);
    // New records, stamped now: applied, and a tick past them (its marker written).
    const now = Math.floor(Date.now() / 1000);
    const txs = syntheticTransactions(30, { fromSec: now - 1, toSec: now });
    const offsets = await produce(
      kafka,
      config.TOPIC,
      txs.map((tx, i) => ({ ...txMessage(tx), partition: PARTITIONS[i % 3] as number })),
    );
    const last = PARTITIONS.map((p) => Math.max(...offsets.filter((_, i) => i % 3 === p).map(Number)));
    await waitFor("the records applied and a tick past them", async () => (await progress()).every((p, i) => p.position === (last[i] as number) + 1 && p.markerOffset === last[i]));
    // Not moved past the report's coming, though the records applied are stamped seconds later.
    const during = await progress();
    expect(during.map((p) => (p.throughMs ?? 0) < plantedAt + 1_000)).toEqual(PARTITIONS.map(() => true));
  } finally {
    clearInterval(refresh);
    await redis.hdel(producerHeldKey(config), "test-producer");
  }
  // No report: the samples vouch again, past the records just applied.
  const gone = Date.now();
  await waitFor("through_ms past the report's end on every partition", async () => (await progress()).every((p) => (p.throughMs ?? 0) > gone));
});

test("a field of the producers' reports reads as a live report, a flushed span, or nothing", () => {
  expect(parseHeldReport(JSON.stringify({ held_since_ms: 5, written_ms: 9 }))).toEqual({ heldSinceMs: 5, writtenMs: 9 });
  expect(parseHeldReport(JSON.stringify({ held_since_ms: 5, flushed_ms: 12 }))).toEqual({ heldSinceMs: 5, flushedMs: 12 });
  for (const bad of ["", "{", "null", "{}", JSON.stringify({ written_ms: 9 }), JSON.stringify({ held_since_ms: "x", written_ms: 1 }), JSON.stringify({ held_since_ms: 1 })]) {
    expect(parseHeldReport(bad)).toBeUndefined();
  }
});
