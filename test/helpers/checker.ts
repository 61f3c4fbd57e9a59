/**
 * The consistency checker on live reads (issue 17): what the simulator delivered and when, a
 * client polling every data endpoint, and the check of each answer against the independent
 * computation (./expected.ts) over two prefixes of the frames delivered:
 *
 *   - lower bound: the frames delivered more than L (LATENESS_MS) before the request was sent;
 *     a complete answer may not miss any of them;
 *   - upper bound: every frame delivered before the answer came back; a complete answer holds
 *     nothing more (the frames delivered within L are in flight: they may or may not be in it).
 *
 * An answer is either within those bounds, or says `complete: false`. The checks per endpoint are
 * in `checkAnswer`; test/consistency.test.ts's header states them.
 */
import { LATENESS_MS } from "../../src/domain/coverage.ts";
import type { Frame } from "../../tools/sim/frames.ts";
import { type Expected, expectedFrom } from "./expected.ts";

type View = Expected["latest"][number];

/** One transaction frame's share of the figures, as the independent computation gives it. */
interface Share {
  minute: number;
  value: number;
  received: [string, number][];
  sent: [string, number][];
  view: View;
}

/** Every transaction frame the simulator delivered, in order, with the time it went out (ms). */
export class Deliveries {
  readonly at: number[] = [];
  readonly shares: Share[] = [];
  /** Hash -> index of its first delivery. */
  readonly index = new Map<string, number>();

  /** The simulator's `onDelivered`: each frame is worked out once, by expectedFrom, when it goes out. */
  readonly record = (frame: Frame): void => {
    if (!frame.hash) return;
    const e = expectedFrom([String(frame.text)]);
    const [minute, bucket] = [...e.minutes][0] ?? [];
    const view = e.latest[0];
    // A hash delivered again counts once (the synthetic feed sends none twice).
    if (minute === undefined || !bucket || !view || this.index.has(view.hash)) return;
    this.index.set(view.hash, this.shares.length);
    this.at.push(Date.now());
    this.shares.push({ minute, value: bucket.value, received: [...e.received], sent: [...e.sent], view });
  };

  get length(): number {
    return this.shares.length;
  }

  /** How many were delivered before `ms` (the times only grow). */
  before(ms: number): number {
    let [lo, hi] = [0, this.at.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.at[mid] as number) < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The data endpoints the client polls, by name. */
export const ENDPOINTS = {
  counts: "/transactions_count_per_minute/0",
  received: "/high_value_addr?side=received&limit=1000",
  sent: "/high_value_addr?side=sent&limit=1000",
  latest: "/show_transactions/?limit=300",
} as const;
export type Endpoint = keyof typeof ENDPOINTS;
const LATEST_LIMIT = 300;
const ADDRESS_LIMIT = 1000;

interface Flagged {
  complete: boolean;
  incomplete_reason?: string;
}
interface CountsBody extends Flagged {
  minutes: ({ start: string; count: number; value: number } & Flagged)[];
}
interface AddressesBody extends Flagged {
  addresses: { address: string; total_value: number }[];
}
interface LatestBody extends Flagged {
  transactions: (View & { size: number })[];
}

/** The prefixes an answer is judged by: frames [0, lo) must be in it when complete, nothing beyond [0, hi) may be. */
export interface Bounds {
  lo: number;
  hi: number;
}

const add = (m: Map<string | number, number>, k: string | number, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/** Per minute (unix s): count and value over the frames below `lo` and below `hi`. */
function minuteFigures(d: Deliveries, { lo, hi }: Bounds) {
  const [lower, upper] = [new Map<number, { count: number; value: number }>(), new Map<number, { count: number; value: number }>()];
  const put = (m: typeof lower, s: Share) => {
    const b = m.get(s.minute) ?? { count: 0, value: 0 };
    m.set(s.minute, { count: b.count + 1, value: b.value + s.value });
  };
  for (let i = 0; i < hi; i++) {
    const s = d.shares[i] as Share;
    put(upper, s);
    if (i < lo) put(lower, s);
  }
  return { lower, upper };
}

function checkCounts(body: CountsBody, d: Deliveries, bounds: Bounds): string[] {
  const errors: string[] = [];
  const { lower, upper } = minuteFigures(d, bounds);
  const zero = { count: 0, value: 0 };
  for (const m of body.minutes) {
    if (body.complete && !m.complete) errors.push(`the answer says complete but minute ${m.start} does not`);
    if (!m.complete) continue;
    const minute = Date.parse(m.start) / 1000;
    const [l, u] = [lower.get(minute) ?? zero, upper.get(minute) ?? zero];
    if (m.count < l.count || m.count > u.count || m.value < l.value || m.value > u.value)
      errors.push(`minute ${m.start} complete with count ${m.count}, value ${m.value}; expected count ${l.count}..${u.count}, value ${l.value}..${u.value}`);
  }
  return errors;
}

function checkAddresses(body: AddressesBody, side: "received" | "sent", d: Deliveries, { lo, hi }: Bounds): string[] {
  if (!body.complete) return [];
  const [lower, upper] = [new Map<string | number, number>(), new Map<string | number, number>()];
  for (let i = 0; i < hi; i++) {
    for (const [address, v] of (d.shares[i] as Share)[side]) {
      add(upper, address, v);
      if (i < lo) add(lower, address, v);
    }
  }
  const errors: string[] = [];
  const listed = new Set<string>();
  for (const { address, total_value } of body.addresses) {
    listed.add(address);
    const [l, u] = [lower.get(address) ?? 0, upper.get(address) ?? 0];
    if (total_value < l || total_value > u) errors.push(`${side} ${address} served ${total_value}; expected ${l}..${u}`);
  }
  // A full list ends at its lowest total: an address whose lower bound is above it belongs in it.
  // A shorter one is every address there is.
  const last = body.addresses.at(-1);
  const floor = body.addresses.length >= ADDRESS_LIMIT && last ? last.total_value : 0;
  for (const [address, l] of lower)
    if (l > floor && !listed.has(address as string)) errors.push(`${side} ${address} missing: its total is at least ${l}, the list ends at ${floor}`);
  return errors;
}

/** a comes before b in the API's order: newest first, equal times in reverse hash order. */
const before = (a: { time: number; hash: string }, b: { time: number; hash: string }) => a.time > b.time || (a.time === b.time && a.hash > b.hash);

function checkLatest(body: LatestBody, d: Deliveries, { lo, hi }: Bounds): string[] {
  if (!body.complete) return [];
  const errors: string[] = [];
  const listed = new Set<string>();
  for (const { hash, time, value, fee, inputs, outputs } of body.transactions) {
    const tx = { hash, time, value, fee, inputs, outputs };
    listed.add(hash);
    const i = d.index.get(hash);
    if (i === undefined || i >= hi) errors.push(`${hash} listed but never delivered`);
    else if (!Bun.deepEquals(tx, (d.shares[i] as Share).view)) errors.push(`${hash} listed as ${JSON.stringify(tx)}; delivered as ${JSON.stringify((d.shares[i] as Share).view)}`);
  }
  // A full list covers the span from its oldest entry on; a shorter one, every transaction stored.
  const last = body.transactions.length >= LATEST_LIMIT ? body.transactions.at(-1) : undefined;
  for (let i = 0; i < lo; i++) {
    const view = (d.shares[i] as Share).view;
    if (!listed.has(view.hash) && (!last || before(view, last)))
      errors.push(`${view.hash} (time ${view.time}) missing; the list ${last ? `ends at ${last.time} ${last.hash}` : `holds ${body.transactions.length}`}`);
  }
  return errors;
}

/** The check of each endpoint's answers. */
const CHECKS: Record<Endpoint, (body: unknown, d: Deliveries, bounds: Bounds) => string[]> = {
  counts: (body, d, bounds) => checkCounts(body as CountsBody, d, bounds),
  received: (body, d, bounds) => checkAddresses(body as AddressesBody, "received", d, bounds),
  sent: (body, d, bounds) => checkAddresses(body as AddressesBody, "sent", d, bounds),
  latest: (body, d, bounds) => checkLatest(body as LatestBody, d, bounds),
};

/** What is wrong with an answer that says complete (nothing for one that says it is not). */
export function checkAnswer(endpoint: Endpoint, body: unknown, d: Deliveries, bounds: Bounds): string[] {
  return CHECKS[endpoint](body, d, bounds);
}

/** One answer, as checked. */
export interface Answer {
  endpoint: Endpoint;
  phase: string;
  steady: boolean;
  /** When the request was sent (ms). */
  at: number;
  status: number;
  complete: boolean;
  reason?: string;
  bounds: Bounds;
  errors: string[];
}

/**
 * A client polling every endpoint, one after the other, `roundMs` apart, checking each answer as
 * it comes. `phase` and `steady` label the answers taken from then on.
 */
export class Poller {
  readonly answers: Answer[] = [];
  readonly last = new Map<Endpoint, Answer>();
  phase = "start";
  steady = false;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly handle: (req: Request) => Promise<Response>,
    private readonly deliveries: Deliveries,
    private readonly roundMs = 200,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        for (const endpoint of Object.keys(ENDPOINTS) as Endpoint[]) await this.ask(endpoint);
        await Bun.sleep(this.roundMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async ask(endpoint: Endpoint): Promise<void> {
    const at = Date.now();
    const lo = this.deliveries.before(at - LATENESS_MS);
    const answer: Answer = { endpoint, phase: this.phase, steady: this.steady, at, status: 0, complete: false, bounds: { lo, hi: lo }, errors: [] };
    try {
      const res = await this.handle(new Request(`http://localhost${ENDPOINTS[endpoint]}`));
      const body = (await res.json()) as Flagged;
      answer.bounds.hi = this.deliveries.length;
      answer.status = res.status;
      if (res.status === 200) {
        answer.complete = body.complete === true;
        answer.reason = body.incomplete_reason;
        const header = res.headers.get("x-complete");
        if (header !== String(body.complete)) answer.errors.push(`X-Complete is ${header}, the body says complete: ${body.complete}`);
        answer.errors.push(...checkAnswer(endpoint, body, this.deliveries, answer.bounds));
      }
    } catch (err) {
      answer.errors.push(`no answer: ${err}`);
    }
    this.answers.push(answer);
    this.last.set(endpoint, answer);
  }

  /** Every endpoint's latest answer, asked at or after `since`, says complete. */
  cleared(since: number): boolean {
    return Object.keys(ENDPOINTS).every((e) => {
      const a = this.last.get(e as Endpoint);
      return a !== undefined && a.at >= since && a.status === 200 && a.complete;
    });
  }

  /** The answers with errors, as lines to print: the endpoint, when, the frames it was judged by, and what is wrong. */
  static describe(wrong: Answer[], max = 10): string {
    return wrong
      .slice(0, max)
      .map(
        (a) =>
          `${a.endpoint} at ${new Date(a.at).toISOString()} (${a.phase}), status ${a.status}, complete ${a.complete}, judged by frames ${a.bounds.lo}..${a.bounds.hi}:\n    ${a.errors.slice(0, 8).join("\n    ")}${a.errors.length > 8 ? `\n    ... ${a.errors.length - 8} more` : ""}`,
      )
      .join("\n  ");
  }
}
