/**
 * The independent computation the end-to-end tests compare the API with: the figures the
 * contract promises, worked out from the raw blockchain.com `utx` frames the simulator delivered,
 * without any of the pipeline's code (no reader, no schema, no Lua).
 */

interface RawUtx {
  hash: string;
  time: number;
  size: number;
  inputs: { address: string | null; value: number | null }[];
  outputs: { address: string | null; value: number }[];
}

export interface Expected {
  /** Transactions counted: distinct hashes. */
  count: number;
  /** Per UTC minute (unix seconds of its start): count and value. */
  minutes: Map<number, { count: number; value: number }>;
  received: Map<string, number>;
  sent: Map<string, number>;
  /** Newest first; equal times in reverse hash order, as the API reads them (a sorted set read backwards). */
  latest: { hash: string; time: number; value: number; fee: number | null; inputs: RawUtx["inputs"]; outputs: RawUtx["outputs"] }[];
}

function parse(text: string): RawUtx | undefined {
  let message: { op?: unknown; x?: Record<string, unknown> };
  try {
    message = JSON.parse(text);
  } catch {
    return undefined;
  }
  const x = message?.x;
  if (message?.op !== "utx" || !x || typeof x.hash !== "string") return undefined;
  const inputs = (x.inputs as { prev_out?: { addr?: string | null; value?: number | null } }[]).map((i) => ({
    address: i.prev_out?.addr ?? null,
    value: i.prev_out?.value ?? null,
  }));
  const outputs = (x.out as { addr?: string | null; value: number }[]).map((o) => ({ address: o.addr ?? null, value: o.value }));
  return { hash: x.hash, time: x.time as number, size: x.size as number, inputs, outputs };
}

/** The figures for every transaction frame in `frames` (duplicates and bad frames included: they count nothing). */
export function expectedFrom(frames: Iterable<string>): Expected {
  const once = new Map<string, RawUtx>();
  for (const text of frames) {
    const tx = parse(text);
    if (tx && !once.has(tx.hash)) once.set(tx.hash, tx);
  }
  const e: Expected = { count: once.size, minutes: new Map(), received: new Map(), sent: new Map(), latest: [] };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const totalOut = (tx: RawUtx) => tx.outputs.reduce((s, o) => s + o.value, 0);
  for (const tx of once.values()) {
    const value = totalOut(tx);
    const minute = Math.floor(tx.time / 60) * 60;
    const bucket = e.minutes.get(minute) ?? { count: 0, value: 0 };
    e.minutes.set(minute, { count: bucket.count + 1, value: bucket.value + value });
    for (const o of tx.outputs) if (o.address && o.value > 0) add(e.received, o.address, o.value);
    for (const i of tx.inputs) if (i.address && i.value) add(e.sent, i.address, i.value);
  }
  e.latest = [...once.values()]
    .sort((a, b) => b.time - a.time || (a.hash < b.hash ? 1 : -1))
    .map((tx) => {
      const value = totalOut(tx);
      const spent = tx.inputs.some((i) => i.value === null) ? null : tx.inputs.reduce((s, i) => s + (i.value ?? 0), 0);
      return { hash: tx.hash, time: tx.time, value, fee: spent === null ? null : spent - value, inputs: tx.inputs, outputs: tx.outputs };
    });
  return e;
}

/** The `n` highest totals, highest first; equal totals in reverse address order (a sorted set read backwards). */
export function top(totals: Map<string, number>, n: number): { address: string; total_value: number }[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
    .slice(0, n)
    .map(([address, total_value]) => ({ address, total_value }));
}
