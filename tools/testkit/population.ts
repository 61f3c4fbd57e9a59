/**
 * Synthetic but realistic transactions, for the consumers' tests and benchmark: deterministic
 * from a seed, 2–4 inputs and 2–4 outputs, mainnet addresses of the usual kinds (valid
 * encodings) drawn from a pool with heavy-tailed reuse (address i of the pool is drawn with
 * probability falling like 1/sqrt(i): a few hot addresses, a long tail seen once or twice), a few
 * outputs without address (OP_RETURN, value 0) and a few inputs of unknown value.
 */
import { SCHEMA_VERSION, type Transaction, type TxInput, type TxOutput } from "../../src/domain/transaction.ts";
import { type AddressType as AddressKind, encodeAddress } from "../sim/address.ts";

export interface PopulationOptions {
  seed?: number;
  /** Size of the address pool. */
  addresses?: number;
  /** Event times are spread evenly over [fromSec, toSec), in order, with up to `jitterSec` of disorder. */
  fromSec: number;
  toSec: number;
  jitterSec?: number;
}

/** mulberry32: a small, fast, seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Share of each address kind on mainnet, roughly. */
const KINDS: [AddressKind, number][] = [
  ["p2wpkh", 0.5],
  ["p2tr", 0.2],
  ["p2sh", 0.15],
  ["p2pkh", 0.12],
  ["p2wsh", 0.03],
];

export function syntheticTransactions(n: number, options: PopulationOptions): Transaction[] {
  const random = prng(options.seed ?? 1);
  const poolSize = options.addresses ?? 300_000;
  const pool = new Map<number, string>();
  const bytes = (k: number) => {
    const out = new Uint8Array(k);
    for (let i = 0; i < k; i++) out[i] = Math.floor(random() * 256);
    return out;
  };
  const address = (): string => {
    const index = Math.floor(poolSize * random() ** 2);
    let a = pool.get(index);
    if (!a) {
      // Derived from the index alone, so the pool is the same whatever order it is drawn in.
      const r = prng((options.seed ?? 1) * 7919 + index);
      let pick = r();
      let kind: AddressKind = "p2wpkh";
      for (const [k, share] of KINDS) {
        if (pick < share) {
          kind = k;
          break;
        }
        pick -= share;
      }
      const payload = new Uint8Array(kind === "p2tr" || kind === "p2wsh" ? 32 : 20);
      for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(r() * 256);
      a = encodeAddress(kind, payload).addr;
      pool.set(index, a);
    }
    return a;
  };
  const amount = () => Math.floor(10 ** (3 + random() * 5)); // 1e3 .. 1e8 satoshi, log-uniform
  const span = options.toSec - options.fromSec;
  const jitter = options.jitterSec ?? 20;
  const txs: Transaction[] = [];
  for (let i = 0; i < n; i++) {
    const base = options.fromSec + Math.floor((i * span) / n);
    const time = Math.min(options.toSec - 1, Math.max(options.fromSec, base + Math.floor((random() - 0.5) * 2 * jitter)));
    const outputs: TxOutput[] = [];
    const nOut = 2 + Math.floor(random() * 3);
    for (let o = 0; o < nOut; o++) {
      if (random() < 0.02) outputs.push({ address: null, value: 0 });
      else outputs.push({ address: address(), value: amount() });
    }
    const value = outputs.reduce((s, o) => s + o.value, 0);
    const nIn = 2 + Math.floor(random() * 3);
    const inputs: TxInput[] = [];
    const fee = 200 + Math.floor(random() * 5000);
    let left = value + fee;
    for (let k = 0; k < nIn; k++) {
      const v = k === nIn - 1 ? left : Math.floor(left * (0.2 + random() * 0.5));
      left -= v;
      inputs.push({ address: address(), value: random() < 0.01 ? null : v });
    }
    const known = inputs.every((x) => x.value !== null);
    txs.push({
      v: SCHEMA_VERSION,
      hash: Buffer.from(bytes(32)).toString("hex"),
      time,
      size: 150 + Math.floor(random() * 600),
      inputs,
      outputs,
      value,
      fee: known ? fee : null,
      received_at: time * 1000 + Math.floor(random() * 1000),
    });
  }
  return txs;
}
