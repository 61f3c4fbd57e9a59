/**
 * Synthetic transactions for the consumers' tests and benchmarks, deterministic from a seed:
 * the simulator's (tools/sim/synthetic.ts: its address mix, values, fees, input and output
 * counts, OP_RETURNs), each read as the producer reads a frame (src/feed/utx.ts). On top, what
 * only a population needs: event times spread over a span with some disorder, an arrival time,
 * and about 1% of inputs without a value (the feed allows it; the fee is then unknown).
 */
import type { Transaction } from "../../src/domain/transaction.ts";
import { readFeedMessage } from "../../src/feed/utx.ts";
import { Random } from "../sim/random.ts";
import { POOL_SIZE, SyntheticFeed } from "../sim/synthetic.ts";

export interface PopulationOptions {
  seed?: number;
  /** Size of the pool of popular (reused) addresses, `POOL_SIZE` unless given. */
  addresses?: number;
  /** Event times are spread evenly over [fromSec, toSec), in order, with up to `jitterSec` of disorder. */
  fromSec: number;
  toSec: number;
  jitterSec?: number;
}

/** Share of inputs whose value is unknown. */
const UNKNOWN_INPUT = 0.01;

export function syntheticTransactions(n: number, options: PopulationOptions): Transaction[] {
  const seed = options.seed ?? 1;
  const feed = new SyntheticFeed(seed, { pool: options.addresses ?? POOL_SIZE });
  // The population's own draws (times, arrivals, unknown values), apart from the feed's.
  const rng = new Random(seed ^ 0x2545f491);
  const span = options.toSec - options.fromSec;
  const jitter = options.jitterSec ?? 20;
  const txs: Transaction[] = [];
  for (let i = 0; i < n; i++) {
    const base = options.fromSec + Math.floor((i * span) / n);
    const time = Math.min(options.toSec - 1, Math.max(options.fromSec, base + rng.int(-jitter, jitter)));
    const read = readFeedMessage(JSON.stringify(feed.next(time)), time * 1000 + rng.int(0, 999));
    if (read.kind !== "tx") throw new Error(`synthetic transaction not read: ${JSON.stringify(read)}`);
    const tx = read.tx;
    for (const input of tx.inputs) {
      if (!rng.chance(UNKNOWN_INPUT)) continue;
      input.value = null;
      tx.fee = null;
    }
    txs.push(tx);
  }
  return txs;
}
