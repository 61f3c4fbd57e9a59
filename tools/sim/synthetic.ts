/**
 * Synthetic `utx` messages shaped like blockchain.com's, deterministic for a seed.
 *
 * - Addresses: 30% of the address slots draw from a pool (`POOL_SIZE` unless given) with Zipf
 *   popularity (a few exchanges, a long tail), the rest are fresh; mixed types like mainnet
 *   today (bc1q, 3, 1, bc1p). The pool is the generator's only memory that grows, up to its
 *   size: made as drawn, or all at once (`fillPool`).
 * - Values: log-normal (median ~0.003 BTC, a long tail into hundreds of BTC, so above 2^31 sat
 *   now and then); inputs pay the outputs plus a fee of a few sat/vB.
 * - 1..100 inputs and 1..300 outputs, mostly 1 in and 2 out; ~4% carry an OP_RETURN output
 *   (no `addr`, value 0).
 * - `weight` (weight units) of a segwit-like transaction, between 2 and 4 times its size; ~10%
 *   of the frames have none, as older frames of the feed do, so readers see both. Drawn from a
 *   stream of its own, so a seed's other fields are those it gave before frames had a weight.
 * - Extra fields the pipeline does not read (scripts, witness, sequence, tx_index, ...) as the
 *   real feed sends them.
 *
 * The one synthetic generator: the simulator sends it, and the test kit's populations
 * (tools/testkit/population.ts) are its transactions as the producer reads them.
 */
import { MAX_TX_WEIGHT } from "../../src/domain/transaction.ts";
import { type Address, type AddressType, encodeAddress } from "./address.ts";
import { Random } from "./random.ts";

export const POOL_SIZE = 100_000;
/** Share of address slots drawn from the popular pool (the rest are used once). */
const REUSE = 0.3;
const TYPES: [AddressType, number][] = [
  ["p2wpkh", 0.42],
  ["p2sh", 0.2],
  ["p2pkh", 0.16],
  ["p2tr", 0.16],
  ["p2wsh", 0.06],
];
/** Outputs below this are dust that nodes do not relay. */
const DUST = 546;
const MAX_OUTPUT = 5_000_000_000_000; // 50,000 BTC
/** Share of frames without a `weight`, as older frames are. */
const WITHOUT_WEIGHT = 0.1;

export interface UtxInput {
  sequence: number;
  witness: string;
  script: string;
  index: number;
  prev_out: { addr?: string; value: number; n: number; script: string; spent: boolean; tx_index: number; type: number };
}

export interface UtxOutput {
  addr?: string;
  value: number;
  n: number;
  script: string;
  spent: boolean;
  tx_index: number;
  type: number;
}

export interface UtxMessage {
  op: "utx";
  x: {
    lock_time: number;
    ver: number;
    size: number;
    /** Weight units; absent from older frames. */
    weight?: number;
    inputs: UtxInput[];
    time: number;
    tx_index: number;
    vin_sz: number;
    hash: string;
    vout_sz: number;
    relayed_by: string;
    out: UtxOutput[];
  };
}

/** A count from a table of [probability, min, max] rows. */
function count(rng: Random, table: [number, number, number][]): number {
  let u = rng.next();
  for (const [p, min, max] of table) {
    if (u < p) return rng.int(min, max);
    u -= p;
  }
  return 1;
}

const INPUTS: [number, number, number][] = [
  [0.65, 1, 1],
  [0.17, 2, 2],
  [0.12, 3, 5],
  [0.055, 6, 20],
  [0.005, 21, 100],
];
const OUTPUTS: [number, number, number][] = [
  [0.15, 1, 1],
  [0.6, 2, 2],
  [0.15, 3, 5],
  [0.095, 6, 30],
  [0.005, 31, 300],
];

/** Random hex that witnesses are cut from. */
const NOISE = new Random(0).hex(4096);

export interface SyntheticOptions {
  /** Addresses in the popular pool (default `POOL_SIZE`): a smaller pool, more reuse of each. */
  pool?: number;
  /**
   * Makes every address of the pool at once (about 1 s and 20 MB for `POOL_SIZE`) instead of at
   * its first draw. Drawn lazily, the Zipf tail keeps adding addresses for hours (at 100 tx/s
   * about 55% of the pool after 30 minutes, 75% after an hour, 96% after three), so a long-running
   * simulator's memory grows as long; filled, it holds its whole pool from the start (`bun run sim`).
   * The transactions are the same either way: an address depends on its number only.
   */
  fillPool?: boolean;
}

export class SyntheticFeed {
  private readonly rng: Random;
  /** The weights' own draws, apart from the rest (see the top of this file). */
  private readonly weights: Random;
  private readonly pool = new Map<number, Address>();
  private readonly poolSize: number;
  private fresh: number;

  constructor(
    private readonly seed: number,
    options: SyntheticOptions = {},
  ) {
    this.rng = new Random(seed);
    this.weights = new Random(seed ^ 0x6c8e9cf5);
    this.poolSize = options.pool ?? POOL_SIZE;
    this.fresh = this.poolSize;
    if (options.fillPool) for (let i = 0; i < this.poolSize; i++) this.pool.set(i, this.make(i));
  }

  /** Addresses of the pool made so far: never more than the pool's size. */
  get poolHeld(): number {
    return this.pool.size;
  }

  /** The next transaction, stamped `time` (unix seconds). */
  next(time: number): UtxMessage {
    const rng = this.rng;
    const out: UtxOutput[] = [];
    const outs = count(rng, OUTPUTS);
    let paid = 0;
    for (let n = 0; n < outs; n++) {
      const { addr, script } = this.address();
      const value = Math.min(MAX_OUTPUT, Math.max(DUST, Math.round(rng.logNormal(300_000, 2.6))));
      paid += value;
      out.push({ type: 0, spent: false, value, n, tx_index: 0, script, addr });
    }
    if (rng.chance(0.04)) out.push({ type: 0, spent: false, value: 0, n: out.length, tx_index: 0, script: `6a24aa21a9ed${rng.hex(32)}` });

    const ins = count(rng, INPUTS);
    const size = 10 + 148 * ins + 34 * out.length;
    const fee = Math.max(1, Math.round(rng.logNormal(6, 0.8) * size * 0.7));
    // Split outputs + fee over the inputs at random; the last takes the rest (so the fee is exact).
    const shares = Array.from({ length: ins }, () => rng.next() + 0.1);
    const total = shares.reduce((a, b) => a + b, 0);
    let left = paid + fee;
    const inputs: UtxInput[] = shares.map((w, i) => {
      const value = i === ins - 1 ? left : Math.floor(((paid + fee) * w) / total);
      left -= value;
      const { addr, script } = this.address();
      return {
        sequence: 4294967293,
        witness: this.witness(),
        script: "",
        index: i,
        prev_out: { addr, value, n: rng.int(0, 3), script, spent: true, tx_index: 0, type: 0 },
      };
    });
    const weight = this.weight(size);
    return {
      op: "utx",
      x: {
        lock_time: 0,
        ver: 2,
        size,
        ...(weight === undefined ? {} : { weight }),
        inputs,
        time,
        tx_index: 0,
        vin_sz: ins,
        hash: rng.hex(32),
        vout_sz: out.length,
        relayed_by: "0.0.0.0",
        out,
      },
    };
  }

  /** A weight for a transaction of `size` bytes, an integer in [2 size, 4 size] and within the limit; none for ~10% (both drawn every time). */
  private weight(size: number): number | undefined {
    const without = this.weights.chance(WITHOUT_WEIGHT);
    const weight = Math.min(MAX_TX_WEIGHT, this.weights.int(2 * size, 4 * size));
    return without ? undefined : weight;
  }

  /** A signature and public key's worth of hex: never read, only sized like the real thing. */
  private witness(): string {
    const at = this.rng.int(0, NOISE.length - 210);
    return `0247${NOISE.slice(at, at + 142)}0121${NOISE.slice(at + 142, at + 208)}`;
  }

  private address(): Address {
    if (!this.rng.chance(REUSE)) return this.make(this.fresh++);
    const i = this.rng.zipf(this.poolSize);
    let a = this.pool.get(i);
    if (!a) this.pool.set(i, (a = this.make(i)));
    return a;
  }

  /** Address number `i` of this seed: the same whenever it is made. */
  private make(i: number): Address {
    const rng = new Random(Math.imul(this.seed, 0x9e3779b1) ^ i);
    let u = rng.next();
    let type: AddressType = "p2wpkh";
    for (const [t, p] of TYPES) {
      type = t;
      if (u < p) break;
      u -= p;
    }
    return encodeAddress(type, rng.bytes(32));
  }
}
