/**
 * The address projection in shards (ADDRESS_SHARDS, src/domain/shards.ts): every address in one
 * shard, each shard under a hash tag whose slot falls in its share of the cluster's slots, and
 * /high_value_addr's merge of the shards' top N equal to the top N of the unsharded projection,
 * ties included. The shards are filled through the group's own script and record filter, on the
 * run's Redis; the cluster itself is in test/cluster.test.ts.
 */
import { describe, expect, test } from "bun:test";
import calculateSlot from "cluster-key-slot";
import { chunkStretch } from "../src/consumers/group.ts";
import { shardsOf } from "../src/domain/projection.ts";
import { addressShards, shardOf, WHOLE } from "../src/domain/shards.ts";
import { addressRecordArgs, applyAddresses, shardRecord } from "../src/projections/addresses/apply.ts";
import { addrTotalKey, SIDES } from "../src/projections/addresses/keys.ts";
import { topAddresses } from "../src/projections/addresses/read.ts";
import { spec } from "../src/projections/addresses/spec.ts";
import { PROJECTIONS } from "../src/projections/registry.ts";
import { groupKeyPattern, positionKey } from "../src/redis/keys.ts";
import { defineScripts } from "../src/redis/loader.ts";
import { NO_POSITION, runAll } from "../src/redis/scripts.ts";
import { syntheticTransactions } from "../tools/testkit/population.ts";
import { testEnv } from "./helpers/env.ts";

const env = testEnv();
const { redis } = env;
const config = { ...env.config, ADDRESS_SHARDS: 4 };
const NOW = Math.floor(Date.now() / 1000);
/** The hash tag of a key: what Redis Cluster hashes. */
const tagOf = (key: string) => key.slice(key.indexOf("{") + 1, key.indexOf("}"));

describe("shards of the address projection", () => {
  test("one shard is the unsharded projection, under the deployment's tag", () => {
    expect(addressShards({})).toEqual([WHOLE]);
    expect(addressShards({ ADDRESS_SHARDS: 1 })).toEqual([WHOLE]);
    expect(tagOf(positionKey(env.config, spec))).toBe(env.config.REDIS_PREFIX);
  });

  test("a sharded projection has ADDRESS_SHARDS shards, any other projection one; every one is whole under ADDRESS_SHARDS=1", () => {
    expect(spec.sharded).toBe(true);
    for (const p of PROJECTIONS) {
      expect(shardsOf(p, { ADDRESS_SHARDS: 1 })).toEqual([WHOLE]);
      expect(shardsOf(p, config)).toEqual(p.sharded ? addressShards(config) : [WHOLE]);
      expect(shardsOf(p, config)).toHaveLength(p.sharded ? 4 : 1);
    }
  });

  test("every shard's keys share one tag, whose slot is in the shard's share of the 16,384 slots", () => {
    for (const of of [2, 3, 4, 7, 16]) {
      const shards = addressShards({ ADDRESS_SHARDS: of });
      expect(shards.map((s) => s.index)).toEqual([...Array(of).keys()]);
      for (const shard of shards) {
        const tags = new Set([addrTotalKey(env.config, "received", shard), addrTotalKey(env.config, "sent", shard), positionKey(env.config, spec, shard)].map(tagOf));
        expect(tags.size).toBe(1);
        const slot = calculateSlot([...tags][0] as string);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((shard.index * 16_384) / of));
        expect(slot).toBeLessThan(Math.floor(((shard.index + 1) * 16_384) / of));
        expect(groupKeyPattern(env.config, spec, shard)).toStartWith(`{${[...tags][0]}}:${spec.namespace}:`);
      }
    }
  });

  test("an address belongs to one shard, the same every time, and the shards share the addresses", () => {
    const txs = syntheticTransactions(500, { fromSec: NOW - 600, toSec: NOW, seed: 5 });
    const addresses = new Set(txs.flatMap((tx) => [...tx.inputs, ...tx.outputs].map((e) => e.address).filter((a): a is string => a !== null)));
    const perShard = new Map<number, number>();
    for (const address of addresses) {
      const shard = shardOf(address, 4);
      expect(shardOf(address, 4)).toBe(shard);
      perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
    }
    expect([...perShard.keys()].sort()).toEqual([0, 1, 2, 3]);
    // Each shard's records hold its addresses only, and every transaction's hash.
    for (const shard of addressShards(config)) {
      for (const tx of txs.slice(0, 50)) {
        const record = shardRecord(shard)(tx);
        expect(record.hash).toBe(tx.hash);
        for (const side of SIDES) for (const address of record[side].keys()) expect(shardOf(address, 4)).toBe(shard.index);
      }
    }
  });

  test("/high_value_addr over the shards equals the unsharded top N on both sides, ties included", async () => {
    defineScripts(redis);
    // Few addresses and round values: many equal totals, to test the order of ties.
    const txs = syntheticTransactions(3_000, { fromSec: NOW - 3_000, toSec: NOW, seed: 9, addresses: 300 }).map((tx) => ({
      ...tx,
      outputs: tx.outputs.map((o) => ({ ...o, value: Math.max(1, Math.round(o.value / 1e7)) * 1e7 })),
      inputs: tx.inputs.map((i) => ({ ...i, value: i.value === null ? null : Math.max(1, Math.round(i.value / 1e7)) * 1e7 })),
    }));
    const fillShard = async (cfg: typeof config, shard = WHOLE) => {
      const records = txs.map(shardRecord(shard));
      const chunks = chunkStretch(records, () => "", addressRecordArgs, NO_POSITION).map((c) => c.records);
      for (const reply of await runAll(
        redis,
        chunks.map((c) => applyAddresses(cfg, NO_POSITION, c, NOW, shard)),
      ))
        expect(reply.status).toBe("applied");
    };
    // The unsharded projection under a tag of the namespace (its clean-up takes `{<prefix>:*` too).
    const whole = { ...env.config, REDIS_PREFIX: `${env.config.REDIS_PREFIX}:whole`, ADDRESS_SHARDS: 1 };
    await fillShard(whole);
    for (const shard of addressShards(config)) await fillShard(config, shard);
    let ties = 0;
    for (const side of SIDES) {
      for (const limit of [1, 10, 100, 1000]) {
        const expected = await topAddresses(redis, whole, side, limit);
        const merged = await topAddresses(redis, config, side, limit);
        expect(merged).toEqual(expected);
        for (let i = 1; i < expected.length; i++) if (expected[i]?.total_value === expected[i - 1]?.total_value) ties++;
      }
    }
    expect(ties).toBeGreaterThan(10);
  });
});
